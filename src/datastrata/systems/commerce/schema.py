"""Each commerce service's own tables, one component per service, applied only in that service's store.

Amounts are exact decimals (TEXT on SQLite, NUMERIC on PostgreSQL). The catalogue's search index is SQLite FTS5 or a
PostgreSQL ``tsvector`` column with a GIN index; orders are documents by id; inventory holds stock levels whose
``CHECK`` constraints make negative stock impossible even for a buggy statement, reservations, and the orders
released before any reservation of theirs arrived (so a late one is refused).
"""

from __future__ import annotations

from datastrata.stores.database import Dialect
from datastrata.stores.migrations import Component


def _types(dialect: Dialect) -> dict[str, str]:
    sqlite = dialect == "sqlite"
    return {"num": "TEXT" if sqlite else "NUMERIC", "time": "TEXT" if sqlite else "TIMESTAMPTZ"}


def _catalogue(dialect: Dialect) -> str:
    table = """
CREATE TABLE IF NOT EXISTS commerce_products (
    tenant_id   TEXT   NOT NULL,
    sku         TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    description TEXT   NOT NULL,
    price       {num}  NOT NULL,
    added_at    {time} NOT NULL,
    {search}
    PRIMARY KEY (tenant_id, sku)
);
"""
    if dialect == "sqlite":
        return table.format(**_types(dialect), search="") + (
            "CREATE VIRTUAL TABLE IF NOT EXISTS commerce_products_fts USING fts5("
            "tenant_id UNINDEXED, sku UNINDEXED, name, description, tokenize = 'unicode61');"
        )
    search = "search tsvector GENERATED ALWAYS AS (to_tsvector('simple', name || ' ' || description)) STORED,"
    return table.format(**_types(dialect), search=search) + (
        "CREATE INDEX IF NOT EXISTS commerce_products_search ON commerce_products USING GIN (search);"
    )


def _users(dialect: Dialect) -> str:
    return """
CREATE TABLE IF NOT EXISTS commerce_users (
    tenant_id     TEXT   NOT NULL,
    user_id       TEXT   NOT NULL,
    name          TEXT   NOT NULL,
    registered_at {time} NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
""".format(**_types(dialect))


def _inventory(dialect: Dialect) -> str:
    return """
CREATE TABLE IF NOT EXISTS commerce_stock (
    tenant_id TEXT   NOT NULL,
    sku       TEXT   NOT NULL,
    on_hand   BIGINT NOT NULL CHECK (on_hand >= 0),
    reserved  BIGINT NOT NULL CHECK (reserved >= 0),
    CHECK (reserved <= on_hand),
    PRIMARY KEY (tenant_id, sku)
);
CREATE TABLE IF NOT EXISTS commerce_reservations (
    tenant_id  TEXT   NOT NULL,
    order_id   TEXT   NOT NULL,
    sku        TEXT   NOT NULL,
    quantity   BIGINT NOT NULL CHECK (quantity > 0),
    state      TEXT   NOT NULL,
    updated_at {time} NOT NULL,
    PRIMARY KEY (tenant_id, order_id, sku)
);
CREATE TABLE IF NOT EXISTS commerce_released_orders (
    tenant_id   TEXT   NOT NULL,
    order_id    TEXT   NOT NULL,
    released_at {time} NOT NULL,
    PRIMARY KEY (tenant_id, order_id)
);
""".format(**_types(dialect))


def _payment(dialect: Dialect) -> str:
    return """
CREATE TABLE IF NOT EXISTS commerce_payments (
    tenant_id  TEXT   NOT NULL,
    payment_id TEXT   NOT NULL,
    order_id   TEXT   NOT NULL,
    customer   TEXT   NOT NULL,
    amount     {num}  NOT NULL,
    state      TEXT   NOT NULL,
    reason     TEXT,
    charged_at {time} NOT NULL,
    PRIMARY KEY (tenant_id, payment_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS commerce_payments_one_per_order ON commerce_payments (tenant_id, order_id);
""".format(**_types(dialect))


def _orders(dialect: Dialect) -> str:
    return """
CREATE TABLE IF NOT EXISTS commerce_orders (
    tenant_id  TEXT   NOT NULL,
    order_id   TEXT   NOT NULL,
    status     TEXT   NOT NULL,
    document   TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    updated_at {time} NOT NULL,
    PRIMARY KEY (tenant_id, order_id)
);
""".format(**_types(dialect))


def _notification(dialect: Dialect) -> str:
    return """
CREATE TABLE IF NOT EXISTS commerce_notifications (
    tenant_id       TEXT   NOT NULL,
    notification_id TEXT   NOT NULL,
    order_id        TEXT   NOT NULL,
    kind            TEXT   NOT NULL,
    message         TEXT   NOT NULL,
    sent_at         {time} NOT NULL,
    PRIMARY KEY (tenant_id, notification_id)
);
CREATE INDEX IF NOT EXISTS commerce_notifications_order ON commerce_notifications (tenant_id, order_id);
""".format(**_types(dialect))


CATALOGUE = Component.baseline("commerce.catalogue", _catalogue)
USERS = Component.baseline("commerce.users", _users)
INVENTORY = Component.baseline("commerce.inventory", _inventory)
PAYMENT = Component.baseline("commerce.payment", _payment)
ORDERS = Component.baseline("commerce.orders", _orders)
NOTIFICATION = Component.baseline("commerce.notification", _notification)

#: Each service's own component, applied in its store only (the saga log's tables are at home, where the ``sagas``
#: context lives: the commerce system's migration, ensured by the saga engine there alone).
BY_SERVICE: dict[str, tuple[Component, ...]] = {
    "catalogue": (CATALOGUE,),
    "users": (USERS,),
    "inventory": (INVENTORY,),
    "payment": (PAYMENT,),
    "orders": (ORDERS,),
    "notification": (NOTIFICATION,),
}
