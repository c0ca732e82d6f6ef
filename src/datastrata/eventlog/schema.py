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


_SQLITE_TENANT_KEYS = """
CREATE TABLE eventlog_events_v7 (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      TEXT    NOT NULL,
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    event_id       TEXT    NOT NULL,
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    payload        TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    occurred_at    TEXT    NOT NULL,
    recorded_at    TEXT    NOT NULL,
    UNIQUE (tenant_id, event_id),
    UNIQUE (tenant_id, stream_id, version)
);
INSERT INTO eventlog_events_v7 SELECT position, tenant_id, stream_id, version, event_id, event_type, schema_version,
    payload, metadata, occurred_at, recorded_at FROM eventlog_events ORDER BY position;
DELETE FROM sqlite_sequence WHERE name = 'eventlog_events_v7';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'eventlog_events_v7', seq FROM sqlite_sequence WHERE name = 'eventlog_events';
CREATE TABLE eventlog_snapshots_v7 (
    tenant_id   TEXT    NOT NULL,
    stream_id   TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    state       TEXT    NOT NULL,
    recorded_at TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, stream_id, name)
);
INSERT INTO eventlog_snapshots_v7 SELECT coalesce(
        (SELECT e.tenant_id FROM eventlog_events e WHERE e.stream_id = s.stream_id LIMIT 1),
        (SELECT a.tenant_id FROM eventlog_archived_streams a WHERE a.stream_id = s.stream_id), 'default'),
    s.stream_id, s.name, s.version, s.state, s.recorded_at FROM eventlog_snapshots s;
CREATE TABLE eventlog_archived_streams_v7 (
    tenant_id      TEXT    NOT NULL,
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    first_position BIGINT  NOT NULL,
    last_position  BIGINT  NOT NULL,
    events         INTEGER NOT NULL,
    event_types    TEXT    NOT NULL,
    last_type      TEXT    NOT NULL,
    newest         TEXT    NOT NULL,
    tier           TEXT    NOT NULL CHECK (tier IN ('cold', 'frozen', 'expired')),
    location       TEXT    NOT NULL,
    checksum       TEXT    NOT NULL,
    archived_at    TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, stream_id)
);
INSERT INTO eventlog_archived_streams_v7 SELECT tenant_id, stream_id, version, first_position, last_position, events,
    event_types, last_type, newest, tier, location, checksum, archived_at FROM eventlog_archived_streams;
CREATE TABLE eventlog_archived_events_v7 (
    tenant_id TEXT   NOT NULL,
    event_id  TEXT   NOT NULL,
    stream_id TEXT   NOT NULL,
    position  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
INSERT INTO eventlog_archived_events_v7 SELECT coalesce(
        (SELECT a.tenant_id FROM eventlog_archived_streams a WHERE a.stream_id = x.stream_id), 'default'),
    x.event_id, x.stream_id, x.position FROM eventlog_archived_events x;
DROP TABLE eventlog_events;
DROP TABLE eventlog_snapshots;
DROP TABLE eventlog_archived_streams;
DROP TABLE eventlog_archived_events;
ALTER TABLE eventlog_events_v7 RENAME TO eventlog_events;
ALTER TABLE eventlog_snapshots_v7 RENAME TO eventlog_snapshots;
ALTER TABLE eventlog_archived_streams_v7 RENAME TO eventlog_archived_streams;
ALTER TABLE eventlog_archived_events_v7 RENAME TO eventlog_archived_events;
CREATE INDEX eventlog_events_by_tenant ON eventlog_events (tenant_id, position);
CREATE INDEX eventlog_archived_streams_by_position ON eventlog_archived_streams (last_position);
"""
#: Expand: the per-tenant keys beside the global ones, so workers of the previous release keep running.
_POSTGRESQL_TENANT_KEYS = """
CREATE UNIQUE INDEX IF NOT EXISTS eventlog_events_tenant_event_key ON eventlog_events (tenant_id, event_id);
CREATE UNIQUE INDEX IF NOT EXISTS eventlog_events_tenant_stream_version_key
    ON eventlog_events (tenant_id, stream_id, version);
CREATE INDEX IF NOT EXISTS eventlog_events_by_tenant ON eventlog_events (tenant_id, position);
ALTER TABLE eventlog_snapshots ADD COLUMN IF NOT EXISTS tenant_id TEXT NOT NULL DEFAULT 'default';
UPDATE eventlog_snapshots s SET tenant_id = coalesce(
    (SELECT e.tenant_id FROM eventlog_events e WHERE e.stream_id = s.stream_id LIMIT 1),
    (SELECT a.tenant_id FROM eventlog_archived_streams a WHERE a.stream_id = s.stream_id), 'default');
CREATE UNIQUE INDEX IF NOT EXISTS eventlog_snapshots_tenant_key ON eventlog_snapshots (tenant_id, stream_id, name);
CREATE UNIQUE INDEX IF NOT EXISTS eventlog_archived_streams_tenant_key
    ON eventlog_archived_streams (tenant_id, stream_id);
ALTER TABLE eventlog_archived_events ADD COLUMN IF NOT EXISTS tenant_id TEXT NOT NULL DEFAULT 'default';
UPDATE eventlog_archived_events x SET tenant_id = a.tenant_id FROM eventlog_archived_streams a
    WHERE a.stream_id = x.stream_id;
CREATE UNIQUE INDEX IF NOT EXISTS eventlog_archived_events_tenant_key ON eventlog_archived_events (tenant_id, event_id);
CREATE OR REPLACE FUNCTION eventlog_delete_archived(tid text, sid text) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    WITH gone AS (
        DELETE FROM eventlog_events e WHERE e.tenant_id = tid AND e.stream_id = sid AND e.version <= (
            SELECT a.version FROM eventlog_archived_streams a WHERE a.tenant_id = tid AND a.stream_id = sid)
        RETURNING 1)
    SELECT count(*) FROM gone
$$;
CREATE OR REPLACE FUNCTION eventlog_delete_tenant(tid text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    gone bigint;
BEGIN
    DELETE FROM eventlog_snapshots WHERE tenant_id = tid;
    DELETE FROM eventlog_archived_events WHERE tenant_id = tid;
    DELETE FROM eventlog_archived_streams WHERE tenant_id = tid;
    DELETE FROM eventlog_events WHERE tenant_id = tid;
    GET DIAGNOSTICS gone = ROW_COUNT;
    RETURN gone;
END $$;
REVOKE ALL ON FUNCTION eventlog_delete_tenant(text) FROM PUBLIC;
"""
#: Contract: the global keys go once every worker writes with ``ON CONFLICT (tenant_id, event_id)`` (eventlog 7's code).
_POSTGRESQL_DROP_GLOBAL_KEYS = """
ALTER TABLE eventlog_events DROP CONSTRAINT IF EXISTS eventlog_events_event_id_key;
ALTER TABLE eventlog_events DROP CONSTRAINT IF EXISTS eventlog_events_stream_version_key;
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['eventlog_snapshots', 'eventlog_archived_streams', 'eventlog_archived_events'] LOOP
        IF to_regclass(t || '_tenant_key') IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I DROP CONSTRAINT IF EXISTS %I', t, t || '_pkey');
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY USING INDEX %I',
                           t, t || '_pkey', t || '_tenant_key');
        END IF;
    END LOOP;
END $$;
DROP FUNCTION IF EXISTS eventlog_delete_archived(text);
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
        # Streams, event ids and snapshots per tenant (SQLite: tables rebuilt, keeping sqlite_sequence, so no
        # position is handed out twice); PostgreSQL expands here and drops the global keys in 8.
        Migration(7, "tenant_keys", _SQLITE_TENANT_KEYS, _POSTGRESQL_TENANT_KEYS),
        Migration(8, "drop_global_keys", postgresql=_POSTGRESQL_DROP_GLOBAL_KEYS),
    ),
)
