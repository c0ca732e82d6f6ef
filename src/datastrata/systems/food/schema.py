"""The order store (the transaction path): relational tables prefixed ``food_``, on SQLite or PostgreSQL."""

from __future__ import annotations

from datastrata.runtime.tenantdata import TableSpec, by_key, register
from datastrata.stores.database import Dialect
from datastrata.stores.migrations import Component

_DDL = """
CREATE TABLE IF NOT EXISTS food_users (
    tenant_id     TEXT   NOT NULL,
    user_id       TEXT   NOT NULL,
    lat           {real} NOT NULL,
    lon           {real} NOT NULL,
    registered_at {time} NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE TABLE IF NOT EXISTS food_restaurants (
    tenant_id     TEXT      NOT NULL,
    restaurant_id TEXT      NOT NULL,
    name          TEXT      NOT NULL,
    address       TEXT      NOT NULL,
    lat           {real}    NOT NULL,
    lon           {real}    NOT NULL,
    sponsored     {boolean} NOT NULL,
    cuisines      TEXT      NOT NULL,
    listed_at     {time}    NOT NULL,
    PRIMARY KEY (tenant_id, restaurant_id)
);
CREATE TABLE IF NOT EXISTS food_menu_items (
    tenant_id     TEXT    NOT NULL,
    item_id       TEXT    NOT NULL,
    restaurant_id TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    price         {money} NOT NULL,
    ingredients   TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, item_id),
    FOREIGN KEY (tenant_id, restaurant_id) REFERENCES food_restaurants (tenant_id, restaurant_id)
);
CREATE INDEX IF NOT EXISTS food_menu_items_restaurant ON food_menu_items (tenant_id, restaurant_id);
CREATE TABLE IF NOT EXISTS food_favorites (
    tenant_id     TEXT   NOT NULL,
    user_id       TEXT   NOT NULL,
    restaurant_id TEXT   NOT NULL,
    favorited_at  {time} NOT NULL,
    PRIMARY KEY (tenant_id, user_id, restaurant_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES food_users (tenant_id, user_id),
    FOREIGN KEY (tenant_id, restaurant_id) REFERENCES food_restaurants (tenant_id, restaurant_id)
);
CREATE TABLE IF NOT EXISTS food_orders (
    tenant_id     TEXT    NOT NULL,
    order_id      TEXT    NOT NULL,
    user_id       TEXT    NOT NULL,
    restaurant_id TEXT    NOT NULL,
    occurred_at   {time}  NOT NULL,
    rating        INTEGER CHECK (rating BETWEEN 1 AND 5),
    total         {money} NOT NULL,
    position      BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, order_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES food_users (tenant_id, user_id),
    FOREIGN KEY (tenant_id, restaurant_id) REFERENCES food_restaurants (tenant_id, restaurant_id)
);
CREATE INDEX IF NOT EXISTS food_orders_user ON food_orders (tenant_id, user_id, occurred_at);
CREATE TABLE IF NOT EXISTS food_order_items (
    tenant_id TEXT    NOT NULL,
    order_id  TEXT    NOT NULL,
    line      INTEGER NOT NULL,
    item_id   TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    price     {money} NOT NULL,
    PRIMARY KEY (tenant_id, order_id, line),
    FOREIGN KEY (tenant_id, order_id) REFERENCES food_orders (tenant_id, order_id)
);
"""


def ddl(dialect: Dialect) -> str:
    """Return the order store's DDL for `dialect` (idempotent)."""
    if dialect == "sqlite":
        return _DDL.format(real="REAL", time="TEXT", boolean="INTEGER", money="TEXT")
    return _DDL.format(real="DOUBLE PRECISION", time="TIMESTAMPTZ", boolean="BOOLEAN", money="NUMERIC(12,2)")


#: The food system's schema.
MIGRATIONS = Component.baseline("food", ddl)

_USER, _RESTAURANT, _ORDER = (
    by_key("food-user", "user_id"),
    by_key("food-restaurant", "restaurant_id"),
    by_key("food-order", "order_id"),
)
register(
    "food",
    TableSpec("food_users", ("tenant_id", "user_id"), rows_of_stream=_USER),
    TableSpec("food_restaurants", ("tenant_id", "restaurant_id"), rows_of_stream=_RESTAURANT),
    TableSpec("food_menu_items", ("tenant_id", "item_id"), rows_of_stream=_RESTAURANT),
    TableSpec("food_favorites", ("tenant_id", "user_id", "restaurant_id"), rows_of_stream=_USER),
    TableSpec("food_orders", ("tenant_id", "order_id"), rows_of_stream=_ORDER),
    TableSpec("food_order_items", ("tenant_id", "order_id", "line"), rows_of_stream=_ORDER),
)
