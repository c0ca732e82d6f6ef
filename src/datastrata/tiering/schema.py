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


_RESTORES_DDL = """
CREATE TABLE IF NOT EXISTS tiering_restores (
    job_id       TEXT    NOT NULL,
    location     TEXT    NOT NULL,
    policy       TEXT    NOT NULL,
    dataset      TEXT    NOT NULL,
    item         TEXT    NOT NULL,
    tier         TEXT    NOT NULL CHECK (tier IN ('expedited', 'standard', 'bulk')),
    days         INTEGER NOT NULL,
    requested_at {time}  NOT NULL,
    ready_at     {time}  NOT NULL,
    expires_at   {time}  NOT NULL,
    PRIMARY KEY (job_id, location)
);
CREATE INDEX IF NOT EXISTS tiering_restores_by_location ON tiering_restores (location, expires_at);
"""


def restores_ddl(dialect: Dialect) -> str:
    """Return the restore requests' DDL: one row per object of a restore job (the job itself is in ``jobs``)."""
    return _RESTORES_DDL.format(time="TEXT" if dialect == "sqlite" else "TIMESTAMPTZ")


#: The restore requests (component ``tiering.restores``, its own so the move audit's numbering stays free).
RESTORES = Component.baseline("tiering.restores", restores_ddl)
