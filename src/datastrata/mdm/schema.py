"""Tables of the master-data store, per dialect; both engines refuse overlapping versions themselves.

Names follow the source article (``master_data_versions``, ``master_data_current``) and share the
``master_data_`` prefix.
"""

from __future__ import annotations

from datastrata.runtime.tenantdata import TableSpec, register
from datastrata.stores.database import Dialect
from datastrata.stores.migrations import Component, Migration

_SQLITE_OVERLAP = """
    SELECT 1 FROM master_data_versions o
    WHERE o.tenant_id = NEW.tenant_id AND o.entity_type = NEW.entity_type AND o.entity_key = NEW.entity_key
      AND o.version_id <> NEW.version_id
      AND (NEW.valid_to IS NULL OR o.valid_from < NEW.valid_to)
      AND (o.valid_to IS NULL OR NEW.valid_from < o.valid_to)
      AND (NEW.recorded_to IS NULL OR o.recorded_from < NEW.recorded_to)
      AND (o.recorded_to IS NULL OR NEW.recorded_from < o.recorded_to)
      AND (o.recorded_to IS NULL OR o.recorded_from < o.recorded_to)
      AND (NEW.recorded_to IS NULL OR NEW.recorded_from < NEW.recorded_to)
"""

SQLITE = f"""
CREATE TABLE IF NOT EXISTS master_data_versions (
    version_id    TEXT    PRIMARY KEY,
    tenant_id     TEXT    NOT NULL,
    entity_type   TEXT    NOT NULL,
    entity_key    TEXT    NOT NULL,
    attributes    TEXT,
    retired       INTEGER NOT NULL CHECK (retired IN (0, 1)),
    valid_from    TEXT    NOT NULL,
    valid_to      TEXT,
    recorded_from TEXT    NOT NULL,
    recorded_to   TEXT,
    actor         TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    change_id     TEXT    NOT NULL,
    derived_from  TEXT,
    activated_at  TEXT,
    CHECK (valid_to IS NULL OR valid_from < valid_to),
    CHECK (recorded_to IS NULL OR recorded_from <= recorded_to),
    CHECK ((retired = 1) = (attributes IS NULL))
);
CREATE INDEX IF NOT EXISTS master_data_versions_key
    ON master_data_versions (tenant_id, entity_type, entity_key, valid_from);
CREATE INDEX IF NOT EXISTS master_data_versions_pending
    ON master_data_versions (valid_from) WHERE activated_at IS NULL AND recorded_to IS NULL;
CREATE TRIGGER IF NOT EXISTS master_data_versions_no_overlap_insert
BEFORE INSERT ON master_data_versions WHEN EXISTS ({_SQLITE_OVERLAP})
BEGIN
    SELECT RAISE(ABORT, 'master_data_versions_no_overlap: versions of a key overlap in valid and recorded time');
END;
CREATE TRIGGER IF NOT EXISTS master_data_versions_no_overlap_update
BEFORE UPDATE OF valid_from, valid_to, recorded_from, recorded_to ON master_data_versions
WHEN EXISTS ({_SQLITE_OVERLAP})
BEGIN
    SELECT RAISE(ABORT, 'master_data_versions_no_overlap: versions of a key overlap in valid and recorded time');
END;
CREATE TABLE IF NOT EXISTS master_data_current (
    tenant_id     TEXT NOT NULL,
    entity_type   TEXT NOT NULL,
    entity_key    TEXT NOT NULL,
    version_id    TEXT NOT NULL REFERENCES master_data_versions (version_id),
    attributes    TEXT NOT NULL,
    valid_from    TEXT NOT NULL,
    valid_to      TEXT,
    recorded_from TEXT NOT NULL,
    actor         TEXT NOT NULL,
    reason        TEXT NOT NULL,
    change_id     TEXT NOT NULL,
    derived_from  TEXT,
    activated_at  TEXT,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, entity_type, entity_key)
);
CREATE INDEX IF NOT EXISTS master_data_current_lapsing ON master_data_current (valid_to) WHERE valid_to IS NOT NULL;
CREATE TABLE IF NOT EXISTS master_data_audit (
    change_id   TEXT    PRIMARY KEY,
    tenant_id   TEXT    NOT NULL,
    entity_type TEXT    NOT NULL,
    entity_key  TEXT    NOT NULL,
    action      TEXT    NOT NULL CHECK (action IN ('put', 'retire')),
    actor       TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    before      TEXT,
    after       TEXT,
    replaced    TEXT    NOT NULL,
    valid_from  TEXT    NOT NULL,
    valid_to    TEXT,
    recorded_at TEXT    NOT NULL,
    version_id  TEXT    NOT NULL,
    position    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS master_data_audit_key ON master_data_audit (tenant_id, entity_type, entity_key, recorded_at);
CREATE INDEX IF NOT EXISTS master_data_audit_actor ON master_data_audit (tenant_id, actor, recorded_at);
CREATE INDEX IF NOT EXISTS master_data_audit_recorded ON master_data_audit (tenant_id, recorded_at);
"""

POSTGRESQL = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE TABLE IF NOT EXISTS master_data_versions (
    version_id    TEXT        PRIMARY KEY,
    tenant_id     TEXT        NOT NULL,
    entity_type   TEXT        NOT NULL,
    entity_key    TEXT        NOT NULL,
    attributes    JSONB,
    retired       BOOLEAN     NOT NULL,
    valid_from    TIMESTAMPTZ NOT NULL,
    valid_to      TIMESTAMPTZ,
    recorded_from TIMESTAMPTZ NOT NULL,
    recorded_to   TIMESTAMPTZ,
    actor         TEXT        NOT NULL,
    reason        TEXT        NOT NULL,
    change_id     TEXT        NOT NULL,
    derived_from  TEXT,
    activated_at  TIMESTAMPTZ,
    CONSTRAINT master_data_versions_valid_period CHECK (valid_to IS NULL OR valid_from < valid_to),
    CONSTRAINT master_data_versions_recorded_period CHECK (recorded_to IS NULL OR recorded_from <= recorded_to),
    CONSTRAINT master_data_versions_retired CHECK (retired = (attributes IS NULL)),
    CONSTRAINT master_data_versions_no_overlap EXCLUDE USING gist (
        tenant_id WITH =,
        entity_type WITH =,
        entity_key WITH =,
        tstzrange(valid_from, valid_to, '[)') WITH &&,
        tstzrange(recorded_from, recorded_to, '[)') WITH &&
    )
);
CREATE INDEX IF NOT EXISTS master_data_versions_key
    ON master_data_versions (tenant_id, entity_type, entity_key, valid_from);
CREATE INDEX IF NOT EXISTS master_data_versions_pending
    ON master_data_versions (valid_from) WHERE activated_at IS NULL AND recorded_to IS NULL;
CREATE TABLE IF NOT EXISTS master_data_current (
    tenant_id     TEXT        NOT NULL,
    entity_type   TEXT        NOT NULL,
    entity_key    TEXT        NOT NULL,
    version_id    TEXT        NOT NULL REFERENCES master_data_versions (version_id),
    attributes    JSONB       NOT NULL,
    valid_from    TIMESTAMPTZ NOT NULL,
    valid_to      TIMESTAMPTZ,
    recorded_from TIMESTAMPTZ NOT NULL,
    actor         TEXT        NOT NULL,
    reason        TEXT        NOT NULL,
    change_id     TEXT        NOT NULL,
    derived_from  TEXT,
    activated_at  TIMESTAMPTZ,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, entity_type, entity_key)
);
CREATE INDEX IF NOT EXISTS master_data_current_lapsing ON master_data_current (valid_to) WHERE valid_to IS NOT NULL;
CREATE TABLE IF NOT EXISTS master_data_audit (
    change_id   TEXT        PRIMARY KEY,
    tenant_id   TEXT        NOT NULL,
    entity_type TEXT        NOT NULL,
    entity_key  TEXT        NOT NULL,
    action      TEXT        NOT NULL CHECK (action IN ('put', 'retire')),
    actor       TEXT        NOT NULL,
    reason      TEXT        NOT NULL,
    before      JSONB,
    after       JSONB,
    replaced    JSONB       NOT NULL,
    valid_from  TIMESTAMPTZ NOT NULL,
    valid_to    TIMESTAMPTZ,
    recorded_at TIMESTAMPTZ NOT NULL,
    version_id  TEXT        NOT NULL,
    position    BIGINT      NOT NULL
);
CREATE INDEX IF NOT EXISTS master_data_audit_key ON master_data_audit (tenant_id, entity_type, entity_key, recorded_at);
CREATE INDEX IF NOT EXISTS master_data_audit_actor ON master_data_audit (tenant_id, actor, recorded_at);
CREATE INDEX IF NOT EXISTS master_data_audit_recorded ON master_data_audit (tenant_id, recorded_at);
"""


def ddl(dialect: Dialect) -> str:
    """Return the master-data DDL for `dialect`."""
    return SQLITE if dialect == "sqlite" else POSTGRESQL


#: Change ids are idempotency keys, unique per tenant (two tenants may both send change ``chg-1``).
_SQLITE_TENANT_KEYS = """
CREATE TABLE master_data_audit_v2 (
    tenant_id   TEXT    NOT NULL,
    change_id   TEXT    NOT NULL,
    entity_type TEXT    NOT NULL,
    entity_key  TEXT    NOT NULL,
    action      TEXT    NOT NULL CHECK (action IN ('put', 'retire')),
    actor       TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    before      TEXT,
    after       TEXT,
    replaced    TEXT    NOT NULL,
    valid_from  TEXT    NOT NULL,
    valid_to    TEXT,
    recorded_at TEXT    NOT NULL,
    version_id  TEXT    NOT NULL,
    position    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, change_id)
);
INSERT INTO master_data_audit_v2 SELECT tenant_id, change_id, entity_type, entity_key, action, actor, reason, before,
    after, replaced, valid_from, valid_to, recorded_at, version_id, position FROM master_data_audit;
DROP TABLE master_data_audit;
ALTER TABLE master_data_audit_v2 RENAME TO master_data_audit;
CREATE INDEX master_data_audit_key ON master_data_audit (tenant_id, entity_type, entity_key, recorded_at);
CREATE INDEX master_data_audit_actor ON master_data_audit (tenant_id, actor, recorded_at);
CREATE INDEX master_data_audit_recorded ON master_data_audit (tenant_id, recorded_at);
"""
_POSTGRESQL_TENANT_KEYS = """
ALTER TABLE master_data_audit DROP CONSTRAINT IF EXISTS master_data_audit_pkey;
ALTER TABLE master_data_audit ADD PRIMARY KEY (tenant_id, change_id);
"""

#: The master-data store's schema (on PostgreSQL the baseline creates btree_gist: a trusted extension the owner may
#: create; the application role never needs to); then change ids per tenant.
MIGRATIONS = Component.baseline("mdm", ddl, Migration(2, "tenant_keys", _SQLITE_TENANT_KEYS, _POSTGRESQL_TENANT_KEYS))

register(
    "mdm",
    TableSpec("master_data_versions", ("tenant_id", "version_id")),
    TableSpec("master_data_current", ("tenant_id", "entity_type", "entity_key")),
    TableSpec("master_data_audit", ("tenant_id", "change_id")),
)
