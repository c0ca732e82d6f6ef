"""Tables of the messaging package: dead letters and consumer inboxes."""

from __future__ import annotations

from datastrata.stores.database import Dialect
from datastrata.stores.migrations import Component

_DDL = """
CREATE TABLE IF NOT EXISTS messaging_dead_letters (
    id          {serial} PRIMARY KEY,
    consumer    TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    position    BIGINT  NOT NULL,
    event_type  TEXT    NOT NULL,
    stream_id   TEXT    NOT NULL,
    error       TEXT    NOT NULL,
    attempts    INTEGER NOT NULL,
    failed_at   {time}  NOT NULL,
    UNIQUE (consumer, event_id)
);
CREATE TABLE IF NOT EXISTS messaging_inbox (
    consumer    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);
"""


def ddl(dialect: Dialect) -> str:
    """Return the messaging DDL for `dialect`."""
    if dialect == "sqlite":
        return _DDL.format(serial="INTEGER", time="TEXT")
    return _DDL.format(serial="BIGSERIAL", time="TIMESTAMPTZ")


#: The messaging schema: dead letters and consumer inboxes.
MIGRATIONS = Component.baseline("messaging", ddl)
