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

#: Event ids are unique per tenant, so a consumer's inbox and dead letters key on ``(tenant, event id)``. Rows from
#: before are the default tenant's: no surface could choose another tenant then.
_SQLITE_TENANT_KEYS = """
CREATE TABLE messaging_dead_letters_v3 (
    id          INTEGER PRIMARY KEY,
    consumer    TEXT    NOT NULL,
    tenant_id   TEXT    NOT NULL DEFAULT 'default',
    event_id    TEXT    NOT NULL,
    position    BIGINT  NOT NULL,
    event_type  TEXT    NOT NULL,
    stream_id   TEXT    NOT NULL,
    error       TEXT    NOT NULL,
    attempts    INTEGER NOT NULL,
    failed_at   TEXT    NOT NULL,
    first_seen  TEXT,
    status      TEXT    NOT NULL DEFAULT 'parked',
    UNIQUE (consumer, tenant_id, event_id)
);
INSERT INTO messaging_dead_letters_v3 (id, consumer, tenant_id, event_id, position, event_type, stream_id, error,
    attempts, failed_at, first_seen, status)
    SELECT id, consumer, 'default', event_id, position, event_type, stream_id, error, attempts, failed_at, first_seen,
        status FROM messaging_dead_letters;
DROP TABLE messaging_dead_letters;
ALTER TABLE messaging_dead_letters_v3 RENAME TO messaging_dead_letters;
CREATE TABLE messaging_inbox_v3 (
    consumer    TEXT NOT NULL,
    tenant_id   TEXT NOT NULL DEFAULT 'default',
    event_id    TEXT NOT NULL,
    PRIMARY KEY (consumer, tenant_id, event_id)
);
INSERT INTO messaging_inbox_v3 (consumer, event_id) SELECT consumer, event_id FROM messaging_inbox;
DROP TABLE messaging_inbox;
ALTER TABLE messaging_inbox_v3 RENAME TO messaging_inbox;
"""
_POSTGRESQL_TENANT_KEYS = """
ALTER TABLE messaging_dead_letters ADD COLUMN IF NOT EXISTS tenant_id TEXT NOT NULL DEFAULT 'default';
CREATE UNIQUE INDEX IF NOT EXISTS messaging_dead_letters_tenant_key
    ON messaging_dead_letters (consumer, tenant_id, event_id);
ALTER TABLE messaging_dead_letters DROP CONSTRAINT IF EXISTS messaging_dead_letters_consumer_event_id_key;
ALTER TABLE messaging_inbox ADD COLUMN IF NOT EXISTS tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE messaging_inbox DROP CONSTRAINT IF EXISTS messaging_inbox_pkey;
ALTER TABLE messaging_inbox ADD PRIMARY KEY (consumer, tenant_id, event_id);
"""

#: The messaging schema: dead letters and consumer inboxes; then when a letter first failed and its status; then
#: the tenant in both keys.
MIGRATIONS = Component.baseline(
    "messaging",
    ddl,
    Migration(
        2,
        "dead_letter_status",
        _DEAD_LETTER_STATUS.format(time="TEXT"),
        _DEAD_LETTER_STATUS.format(time="TIMESTAMPTZ"),
    ),
    Migration(3, "tenant_keys", _SQLITE_TENANT_KEYS, _POSTGRESQL_TENANT_KEYS),
)
