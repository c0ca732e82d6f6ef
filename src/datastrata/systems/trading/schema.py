"""Tables of the trading system: New York's accounts on each shard (and the enrichment's books), Singapore's reads.

Every sharded table carries ``shard_key`` (the user id) and ``shard_slot`` (its hash slot) next to ``tenant_id``,
so a reshard moves a slot run or a pinned key with plain SQL. Amounts are exact decimals (TEXT on SQLite, NUMERIC on
PostgreSQL) read back as ``Decimal``.
"""

from __future__ import annotations

from datastrata.stores.database import Dialect
from datastrata.stores.migrations import Component

_NEW_YORK = """
CREATE TABLE IF NOT EXISTS trading_accounts (
    tenant_id   TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    shard_key   TEXT    NOT NULL,
    shard_slot  INTEGER NOT NULL,
    cash        {num}   NOT NULL,
    version     BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX IF NOT EXISTS trading_accounts_slot ON trading_accounts (shard_slot);
CREATE TABLE IF NOT EXISTS trading_positions (
    tenant_id   TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    symbol      TEXT    NOT NULL,
    shard_key   TEXT    NOT NULL,
    shard_slot  INTEGER NOT NULL,
    quantity    {num}   NOT NULL,
    PRIMARY KEY (tenant_id, user_id, symbol)
);
CREATE INDEX IF NOT EXISTS trading_positions_slot ON trading_positions (shard_slot);
CREATE TABLE IF NOT EXISTS trading_trades (
    tenant_id   TEXT    NOT NULL,
    trade_id    TEXT    NOT NULL,
    order_id    TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    shard_key   TEXT    NOT NULL,
    shard_slot  INTEGER NOT NULL,
    symbol      TEXT    NOT NULL,
    side        TEXT    NOT NULL,
    quantity    {num}   NOT NULL,
    price       {num}   NOT NULL,
    executed_at {time}  NOT NULL,
    PRIMARY KEY (tenant_id, trade_id)
);
CREATE INDEX IF NOT EXISTS trading_trades_user ON trading_trades (tenant_id, user_id, executed_at);
CREATE INDEX IF NOT EXISTS trading_trades_slot ON trading_trades (shard_slot);
CREATE TABLE IF NOT EXISTS trading_lots (
    tenant_id   TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    symbol      TEXT    NOT NULL,
    shard_key   TEXT    NOT NULL,
    shard_slot  INTEGER NOT NULL,
    quantity    {num}   NOT NULL,
    cost        {num}   NOT NULL,
    PRIMARY KEY (tenant_id, user_id, symbol)
);
CREATE INDEX IF NOT EXISTS trading_lots_slot ON trading_lots (shard_slot);
CREATE TABLE IF NOT EXISTS trading_books (
    tenant_id   TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    shard_key   TEXT    NOT NULL,
    shard_slot  INTEGER NOT NULL,
    cash        {num}   NOT NULL,
    realised    {num}   NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX IF NOT EXISTS trading_books_slot ON trading_books (shard_slot);
CREATE TABLE IF NOT EXISTS trading_marks (
    tenant_id   TEXT    NOT NULL,
    symbol      TEXT    NOT NULL,
    price       {num}   NOT NULL,
    PRIMARY KEY (tenant_id, symbol)
);
"""

_SINGAPORE = """
CREATE TABLE IF NOT EXISTS trading_sg_positions (
    tenant_id    TEXT   NOT NULL,
    user_id      TEXT   NOT NULL,
    symbol       TEXT   NOT NULL,
    quantity     {num}  NOT NULL,
    average_cost {num}  NOT NULL,
    mark         {num}  NOT NULL,
    unrealised   {num}  NOT NULL,
    realised     {num}  NOT NULL,
    updated_at   {time} NOT NULL,
    PRIMARY KEY (tenant_id, user_id, symbol)
);
CREATE TABLE IF NOT EXISTS trading_sg_pnl (
    tenant_id       TEXT   NOT NULL,
    user_id         TEXT   NOT NULL,
    cash            {num}  NOT NULL,
    positions_value {num}  NOT NULL,
    total_value     {num}  NOT NULL,
    realised        {num}  NOT NULL,
    unrealised      {num}  NOT NULL,
    source_at       {time} NOT NULL,
    applied_at      {time} NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE TABLE IF NOT EXISTS trading_sg_alerts (
    tenant_id   TEXT   NOT NULL,
    alert_id    TEXT   NOT NULL,
    user_id     TEXT   NOT NULL,
    rule        TEXT   NOT NULL,
    symbol      TEXT   NOT NULL,
    level       {num}  NOT NULL,
    threshold   {num}  NOT NULL,
    raised_at   {time} NOT NULL,
    PRIMARY KEY (tenant_id, alert_id)
);
CREATE INDEX IF NOT EXISTS trading_sg_alerts_user ON trading_sg_alerts (tenant_id, user_id, raised_at);
CREATE TABLE IF NOT EXISTS trading_sg_quotes (
    symbol      TEXT   PRIMARY KEY,
    price       {num}  NOT NULL,
    tick_at     BIGINT NOT NULL,
    updated_at  {time} NOT NULL
);
"""


def _types(dialect: Dialect) -> dict[str, str]:
    return {"num": "TEXT", "time": "TEXT"} if dialect == "sqlite" else {"num": "NUMERIC", "time": "TIMESTAMPTZ"}


def new_york_ddl(dialect: Dialect) -> str:
    """Return New York's tables on `dialect` (each shard holds them; its home holds them empty)."""
    return _NEW_YORK.format(**_types(dialect))


def singapore_ddl(dialect: Dialect) -> str:
    """Return Singapore's read model tables on `dialect`."""
    return _SINGAPORE.format(**_types(dialect))


#: New York's schema: accounts, positions and trades (the strong record) and the enrichment's books.
NEW_YORK = Component.baseline("trading", new_york_ddl)
#: Singapore's schema: the denormalised read model and the latest quotes.
SINGAPORE = Component.baseline("trading.singapore", singapore_ddl)
