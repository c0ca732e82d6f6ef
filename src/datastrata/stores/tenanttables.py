"""Which tables hold tenants' rows: every table with a ``tenant_id`` column, except the global ones listed here."""

from __future__ import annotations

#: Tables that carry no tenant's rows or that the platform must see whole: no row-level security on PostgreSQL and
#: no guard on SQLite (code filters them where a tenant reads them). Names ending in ``_`` are prefixes.
GLOBAL_TABLES = (
    "schema_migrations",
    "eventlog_identity",
    "eventlog_lineage",
    "projection_checkpoints",
    "readmodel_slots",
    "jobs",
    "messaging_",
    "security_api_keys",
    "tenancy_tenants",
    "tenancy_audit",
    "tenancy_fences",
    "tenancy_grants",
    "tenancy_grant_audit",
    "iceberg_",
    "tiering_",
    "fab_aggregated",
    "eventsourcing_tracking",
    "runtime_moves",
)


def is_global(table: str) -> bool:
    """True for a table outside tenant isolation (see :data:`GLOBAL_TABLES`)."""
    return any(table.startswith(g) if g.endswith("_") else table == g for g in GLOBAL_TABLES)
