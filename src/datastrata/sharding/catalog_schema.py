"""The shard catalogue's tables: each map's shards and their stores, and the contexts a map shards."""

from __future__ import annotations

from datastrata.stores.database import Dialect
from datastrata.stores.migrations import Component, Migration


def _ddl(dialect: Dialect) -> str:
    time = "TEXT" if dialect == "sqlite" else "TIMESTAMPTZ"
    return f"""
CREATE TABLE IF NOT EXISTS sharding_shards (
    map_name TEXT   NOT NULL,
    shard    TEXT   NOT NULL,
    store    TEXT   NOT NULL,
    added_at {time} NOT NULL,
    PRIMARY KEY (map_name, shard)
);
CREATE TABLE IF NOT EXISTS sharding_contexts (
    map_name TEXT NOT NULL,
    context  TEXT NOT NULL,
    PRIMARY KEY (map_name, context)
);
"""


MIGRATIONS = Component("sharding.catalog", (Migration.from_ddl(1, "baseline", _ddl),))
