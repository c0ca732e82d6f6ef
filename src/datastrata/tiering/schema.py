"""The move audit: one row per move a tiering run made (what, from, to, rows/bytes, checksum, rule, time)."""

from __future__ import annotations

from datastrata.stores.database import Dialect
from datastrata.stores.migrations import Component, Migration

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

#: pyiceberg's SQL catalog tables (its schema v1, as ``pyiceberg.catalog.sql`` declares them), created by our
#: migrations so an application role without DDL rights can use the catalog and backups include it; pyiceberg is
#: told not to create tables itself (``init_catalog_tables=false``).
_ICEBERG_CATALOG = """
CREATE TABLE IF NOT EXISTS iceberg_tables (
    catalog_name               VARCHAR(255)  NOT NULL,
    table_namespace            VARCHAR(255)  NOT NULL,
    table_name                 VARCHAR(255)  NOT NULL,
    metadata_location          VARCHAR(1000),
    previous_metadata_location VARCHAR(1000),
    iceberg_type               VARCHAR(5),
    PRIMARY KEY (catalog_name, table_namespace, table_name)
);
CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
    catalog_name   VARCHAR(255)  NOT NULL,
    namespace      VARCHAR(255)  NOT NULL,
    property_key   VARCHAR(255)  NOT NULL,
    property_value VARCHAR(1000) NOT NULL,
    PRIMARY KEY (catalog_name, namespace, property_key)
);
"""

#: The Iceberg SQL catalog in the project's store: its own component, so it numbers apart from the move audit.
ICEBERG_CATALOG = Component("tiering.iceberg", (Migration.both(1, "catalog", _ICEBERG_CATALOG),))

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
