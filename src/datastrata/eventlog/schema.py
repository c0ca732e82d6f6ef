"""Tables of the event log, per dialect, as numbered migrations."""

from __future__ import annotations

from datastrata.stores.migrations import Component, Migration

#: On PostgreSQL a position is ``(transaction id << POSITION_BITS) + n``: see postgres_engine.
POSITION_BITS = 20
#: The SQLSTATE PostgreSQL raises for an append whose batch is partly stored already (see postgres_engine).
PARTIAL_BATCH_SQLSTATE = "DSP01"

SQLITE = """
CREATE TABLE IF NOT EXISTS eventlog_events (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      TEXT    NOT NULL,
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    event_id       TEXT    NOT NULL UNIQUE,
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    payload        TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    occurred_at    TEXT    NOT NULL,
    recorded_at    TEXT    NOT NULL,
    UNIQUE (stream_id, version)
);
CREATE TABLE IF NOT EXISTS eventlog_snapshots (
    stream_id   TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    state       TEXT    NOT NULL,
    recorded_at TEXT    NOT NULL,
    PRIMARY KEY (stream_id, name)
);
"""
_SQLITE_IDENTITY = """
CREATE TABLE IF NOT EXISTS eventlog_identity (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    log_id     TEXT    NOT NULL,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO eventlog_identity (singleton, log_id) VALUES (1, lower(hex(randomblob(16)))) ON CONFLICT DO NOTHING;
"""


POSTGRESQL = """
CREATE TABLE IF NOT EXISTS eventlog_events (
    position       BIGINT      PRIMARY KEY,
    tenant_id      TEXT        NOT NULL,
    stream_id      TEXT        NOT NULL,
    version        INTEGER     NOT NULL,
    event_id       TEXT        NOT NULL,
    event_type     TEXT        NOT NULL,
    schema_version INTEGER     NOT NULL,
    payload        JSONB       NOT NULL,
    metadata       JSONB       NOT NULL,
    occurred_at    TIMESTAMPTZ NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT eventlog_events_event_id_key UNIQUE (event_id),
    CONSTRAINT eventlog_events_stream_version_key UNIQUE (stream_id, version)
);
CREATE TABLE IF NOT EXISTS eventlog_snapshots (
    stream_id   TEXT        NOT NULL,
    name        TEXT        NOT NULL,
    version     INTEGER     NOT NULL,
    state       JSONB       NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (stream_id, name)
);
"""

_POSTGRESQL_REFUSE_PARTIAL_BATCH = """
CREATE OR REPLACE FUNCTION eventlog_refuse_partial_batch(stored bigint, total int) RETURNS int
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'eventlog: % of % events of this batch are stored already', total - stored, total
        USING ERRCODE = 'DSP01';
END $$;
"""

_POSTGRESQL_IDENTITY = """
CREATE TABLE IF NOT EXISTS eventlog_identity (
    singleton  INTEGER     PRIMARY KEY CHECK (singleton = 1),
    log_id     TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO eventlog_identity (singleton, log_id) VALUES (1, replace(gen_random_uuid()::text, '-', ''))
    ON CONFLICT DO NOTHING;
"""

_POSTGRESQL_DROP_NOTIFY_TRIGGER = """
DROP TRIGGER IF EXISTS eventlog_events_notify ON eventlog_events;
DROP FUNCTION IF EXISTS eventlog_notify();
"""


_LINEAGE = """
CREATE TABLE IF NOT EXISTS eventlog_lineage (
    log_id          TEXT   PRIMARY KEY,
    restored_from   TEXT   NOT NULL,
    restored_at     {time} NOT NULL,
    backup_taken_at {time} NOT NULL
);
"""


_ARCHIVED = """
CREATE TABLE IF NOT EXISTS eventlog_archived_streams (
    stream_id      TEXT    PRIMARY KEY,
    tenant_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    first_position BIGINT  NOT NULL,
    last_position  BIGINT  NOT NULL,
    events         INTEGER NOT NULL,
    event_types    TEXT    NOT NULL,
    last_type      TEXT    NOT NULL,
    newest         {time}  NOT NULL,
    tier           TEXT    NOT NULL CHECK (tier IN ('cold', 'frozen', 'expired')),
    location       TEXT    NOT NULL,
    checksum       TEXT    NOT NULL,
    archived_at    {time}  NOT NULL
);
CREATE INDEX IF NOT EXISTS eventlog_archived_streams_by_position ON eventlog_archived_streams (last_position);
CREATE TABLE IF NOT EXISTS eventlog_archived_events (
    event_id  TEXT   PRIMARY KEY,
    stream_id TEXT   NOT NULL,
    position  BIGINT NOT NULL
);
"""
#: The application roles may not delete from the append-only log: this owner's function deletes only the events of
#: a stream already recorded as archived (and no later version), inside the caller's transaction.
_POSTGRESQL_DELETE_ARCHIVED = """
CREATE OR REPLACE FUNCTION eventlog_delete_archived(sid text) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    WITH gone AS (
        DELETE FROM eventlog_events e WHERE e.stream_id = sid AND e.version <= (
            SELECT a.version FROM eventlog_archived_streams a WHERE a.stream_id = sid)
        RETURNING 1)
    SELECT count(*) FROM gone
$$;
"""


#: The event log's schema: the baseline of the first release, then each later change as its own step.
MIGRATIONS = Component(
    "eventlog",
    (
        Migration(1, "events_and_snapshots", SQLITE, POSTGRESQL),
        Migration(2, "refuse_partial_batch", postgresql=_POSTGRESQL_REFUSE_PARTIAL_BATCH),
        # Appends used to be announced by a trigger inside the appending transaction (see docs/decisions.md).
        Migration(3, "drop_notify_trigger", postgresql=_POSTGRESQL_DROP_NOTIFY_TRIGGER),
        Migration(4, "identity", _SQLITE_IDENTITY, _POSTGRESQL_IDENTITY),
        # A restore gives the log a new identity; this records which log (and backup) it came from.
        Migration(5, "lineage", _LINEAGE.format(time="TEXT"), _LINEAGE.format(time="TIMESTAMPTZ")),
        # Closed streams tiered out of the online log: where each segment is, and which event ids it holds.
        Migration(
            6,
            "archived_streams",
            _ARCHIVED.format(time="TEXT"),
            _ARCHIVED.format(time="TIMESTAMPTZ") + _POSTGRESQL_DELETE_ARCHIVED,
        ),
    ),
)
