"""The templates new bridge and silo tenants are copied from: migrated by ``datastrata migrate`` like any location."""

from __future__ import annotations

from pathlib import Path

from datastrata.core.config import Settings, sqlite_path
from datastrata.runtime.location import LocationSpec
from datastrata.tenancy import provisioning as p
from datastrata.tenancy.naming import (
    TEMPLATE_SCHEMA,
    dialect_of,
    silo_template_database,
    template_file_url,
    with_database,
)


def templates(settings: Settings) -> list[LocationSpec]:
    """The templates that exist beside `settings`' home store (none until a bridge or silo tenant was provisioned)."""
    home = settings.store
    if dialect_of(home) == "sqlite":
        url = template_file_url(home)
        return [LocationSpec("tenant_template", url, "", "")] if Path(sqlite_path(url)).exists() else []
    found: list[LocationSpec] = []
    with p.admin(p.owner_url(settings, home), what="reading the tenant templates") as conn:
        if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (TEMPLATE_SCHEMA,)).fetchone():
            found.append(LocationSpec("tenant_template", home, "", "", namespace=TEMPLATE_SCHEMA))
        database = silo_template_database(home)
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            found.append(LocationSpec("silo_template", with_database(home, database), "", ""))
    return found
