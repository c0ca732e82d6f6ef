"""Tables of the messaging package: dead letters (of every follower and bus consumer) and consumer inboxes.

A dead letter's ``failed_at`` is when it last failed, ``first_seen`` when it first did; ``status`` is ``parked``
(waiting for an operator; it halts a follower whose policy is halt), ``retry`` (an operator asked for another
try), ``resolved`` (a retry succeeded) or ``skipped`` (an operator moved past it).
"""

from __future__ import annotations

from datastrata.stores.database import Dialect
from datastrata.stores.migrations import Component, Migration

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


_DEAD_LETTER_STATUS = """
ALTER TABLE messaging_dead_letters ADD COLUMN first_seen {time};
ALTER TABLE messaging_dead_letters ADD COLUMN status TEXT NOT NULL DEFAULT 'parked';
"""

#: The messaging schema: dead letters and consumer inboxes; then when a letter first failed and its status.
MIGRATIONS = Component.baseline(
    "messaging",
    ddl,
    Migration(
        2,
        "dead_letter_status",
        _DEAD_LETTER_STATUS.format(time="TEXT"),
        _DEAD_LETTER_STATUS.format(time="TIMESTAMPTZ"),
    ),
)
