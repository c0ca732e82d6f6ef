"""The pipeline's tables, prefixed ``mlops_``: feature views and their Parquet parts, the embedded online store,
materialisation checkpoints, the model registry, saved training sets and captured inference batches."""

from __future__ import annotations

from datastrata.runtime.tenantdata import TableSpec, register
from datastrata.stores.database import Dialect
from datastrata.stores.migrations import Component

_DDL = """
CREATE TABLE IF NOT EXISTS mlops_feature_views (
    tenant_id   TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    entity      TEXT   NOT NULL,
    features    TEXT   NOT NULL,
    ttl_seconds BIGINT,
    defined_at  {time} NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
CREATE TABLE IF NOT EXISTS mlops_feature_parts (
    tenant_id   TEXT   NOT NULL,
    view        TEXT   NOT NULL,
    seq         BIGINT NOT NULL,
    object_key  TEXT   NOT NULL,
    day         TEXT   NOT NULL,
    rows        BIGINT NOT NULL,
    bytes       BIGINT NOT NULL,
    sha256      TEXT   NOT NULL,
    min_us      BIGINT NOT NULL,
    max_us      BIGINT NOT NULL,
    ingested_at {time} NOT NULL,
    PRIMARY KEY (tenant_id, view, seq)
);
CREATE TABLE IF NOT EXISTS mlops_online (
    tenant_id   TEXT   NOT NULL,
    view        TEXT   NOT NULL,
    entity_id   TEXT   NOT NULL,
    event_us    BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    features    TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, view, entity_id)
);
CREATE TABLE IF NOT EXISTS mlops_materialized (
    tenant_id       TEXT   NOT NULL,
    view            TEXT   NOT NULL,
    seq             BIGINT NOT NULL,
    materialized_at {time} NOT NULL,
    PRIMARY KEY (tenant_id, view)
);
CREATE TABLE IF NOT EXISTS mlops_models (
    tenant_id        TEXT   NOT NULL,
    model            TEXT   NOT NULL,
    version          BIGINT NOT NULL,
    artifact         TEXT   NOT NULL,
    sha256           TEXT   NOT NULL,
    bytes            BIGINT NOT NULL,
    stage            TEXT   NOT NULL CHECK (stage IN ('pending', 'approved', 'rejected', 'archived')),
    metrics          TEXT   NOT NULL,
    registered_at    {time} NOT NULL,
    stage_changed_at {time} NOT NULL,
    PRIMARY KEY (tenant_id, model, version),
    UNIQUE (tenant_id, model, sha256)
);
CREATE TABLE IF NOT EXISTS mlops_aliases (
    tenant_id TEXT   NOT NULL,
    model     TEXT   NOT NULL,
    alias     TEXT   NOT NULL,
    version   BIGINT NOT NULL,
    moved_at  {time} NOT NULL,
    PRIMARY KEY (tenant_id, model, alias),
    FOREIGN KEY (tenant_id, model, version) REFERENCES mlops_models (tenant_id, model, version)
);
CREATE TABLE IF NOT EXISTS mlops_training_sets (
    tenant_id  TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    object_key TEXT   NOT NULL,
    rows       BIGINT NOT NULL,
    columns    TEXT   NOT NULL,
    created_at {time} NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
CREATE TABLE IF NOT EXISTS mlops_captures (
    tenant_id   TEXT   NOT NULL,
    model       TEXT   NOT NULL,
    batch_id    TEXT   NOT NULL,
    version     BIGINT NOT NULL,
    object_key  TEXT   NOT NULL,
    day         TEXT   NOT NULL,
    rows        BIGINT NOT NULL,
    captured_at {time} NOT NULL,
    PRIMARY KEY (tenant_id, model, batch_id)
);
CREATE INDEX IF NOT EXISTS mlops_captures_by_day ON mlops_captures (tenant_id, model, day);
"""


def ddl(dialect: Dialect) -> str:
    """Return the pipeline's DDL for `dialect`."""
    return _DDL.format(time="TEXT" if dialect == "sqlite" else "TIMESTAMPTZ")


#: The ML pipeline's schema.
MIGRATIONS = Component.baseline("mlops", ddl)

register(
    "mlops",
    TableSpec("mlops_feature_views", ("tenant_id", "name")),
    TableSpec("mlops_feature_parts", ("tenant_id", "view", "seq")),
    TableSpec("mlops_online", ("tenant_id", "view", "entity_id")),
    TableSpec("mlops_materialized", ("tenant_id", "view")),
    TableSpec("mlops_models", ("tenant_id", "model", "version")),
    TableSpec("mlops_aliases", ("tenant_id", "model", "alias")),
    TableSpec("mlops_training_sets", ("tenant_id", "name")),
    TableSpec("mlops_captures", ("tenant_id", "model", "batch_id")),
)
