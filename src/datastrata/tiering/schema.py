"""The move audit: one row per move a tiering run made (what, from, to, rows/bytes, checksum, rule, time)."""

from __future__ import annotations

from datastrata.stores.database import Dialect
from datastrata.stores.migrations import Component

_DDL = """
CREATE TABLE IF NOT EXISTS tiering_moves (
    id         TEXT    PRIMARY KEY,
    dataset    TEXT    NOT NULL,
    item       TEXT    NOT NULL,
    from_tier  TEXT    NOT NULL,
    to_tier    TEXT    NOT NULL CHECK (to_tier IN ('warm', 'cold', 'frozen', 'expired')),
    location   TEXT    NOT NULL,
    rows       BIGINT  NOT NULL,
    bytes      BIGINT  NOT NULL,
    checksum   TEXT    NOT NULL,
    rule       TEXT    NOT NULL,
    moved_at   {time}  NOT NULL,
    UNIQUE (dataset, item, to_tier)
);
CREATE INDEX IF NOT EXISTS tiering_moves_by_item ON tiering_moves (dataset, item, moved_at);
"""


def ddl(dialect: Dialect) -> str:
    """Return the move audit's DDL."""
    return _DDL.format(time="TEXT" if dialect == "sqlite" else "TIMESTAMPTZ")


#: The tiering component's schema: migration 1 is the move audit.
MIGRATIONS = Component.baseline("tiering", ddl)
