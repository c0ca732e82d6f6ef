"""Tables of the messaging package: dead letters (of every follower and bus consumer) and consumer inboxes.

A dead letter's ``failed_at`` is when it last failed, ``first_seen`` when it first did; ``status`` is ``parked``
(waiting for an operator; it halts a follower whose policy is halt), ``retry`` (an operator asked for another
try), ``resolved`` (a retry succeeded) or ``skipped`` (an operator moved past it).
"""

from __future__ import annotations

from datastrata.stores.database import Dialect

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
    first_seen  {time},
    status      TEXT    NOT NULL DEFAULT 'parked',
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
