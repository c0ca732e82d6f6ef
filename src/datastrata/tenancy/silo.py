"""The silo (dedicated infrastructure): a database of the tenant's own, its own folder, its own object root."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from datastrata.core.config import sqlite_path
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.roles import grant
from datastrata.stores.migrations import migrate
from datastrata.stores.open import open_database
from datastrata.tenancy import provisioning as p
from datastrata.tenancy.naming import (
    DEDICATED_INFRASTRUCTURE,
    dialect_of,
    silo_template_database,
    template_file_url,
    tenant_spec,
    with_database,
)

if TYPE_CHECKING:
    from datastrata.core.config import Settings
    from datastrata.runtime.runtime import Runtime

#: PostgreSQL's SQLSTATE when the template database still has a connection (it closes a moment later).
OBJECT_IN_USE = "55006"


class DedicatedInfrastructure:
    """Provisions a tenant's own store: ``CREATE DATABASE … TEMPLATE`` (or a given ``--store``), or a SQLite folder."""

    model = DEDICATED_INFRASTRUCTURE

    def provision(self, runtime: Runtime, tenant: str, *, store: str | None = None) -> LocationSpec | None:
        """Make and migrate `tenant`'s store (`store` if given: it is migrated as it is); return its spec."""
        home = runtime.home.spec
        spec = tenant_spec(home, tenant, DEDICATED_INFRASTRUCTURE, store=store)
        assert spec is not None
        if store is not None:
            migrate_store(runtime.settings, spec.store)
        elif dialect_of(spec.store) == "sqlite":
            template = template_file_url(home.store)
            p.migrated_file(template)
            p.copy_file(template, spec.store)
        else:
            create_database(runtime.settings, home.store, spec.store)
        return spec

    def destroy(self, runtime: Runtime, tenant: str, spec: LocationSpec | None) -> None:
        """Drop the database (or folder) `provision` made, and its object root; a given ``--store`` is left alone."""
        made = tenant_spec(runtime.home.spec, tenant, DEDICATED_INFRASTRUCTURE)
        assert made is not None
        spec = spec or made
        runtime.forget(spec.name)
        if spec.store != made.store:
            return  # the operator's own store: not ours to drop
        if dialect_of(spec.store) == "sqlite":
            shutil.rmtree(Path(sqlite_path(spec.store)).parent, ignore_errors=True)
            return
        p.remove_objects(spec.objects)
        p.remove_graph(spec.graph)
        database = spec.store.rsplit("/", 1)[1].split("?", 1)[0]
        with p.admin(
            p.provision_url(runtime.settings, runtime.home.spec.store), what=f"DROP DATABASE {database}"
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'.encode())


def migrate_store(settings: Settings, store: str) -> list[str]:
    """Apply every component's migrations to a silo's store (as its owner) and grant the roles; the labels applied."""
    db = open_database(p.owner_url(settings, store) if dialect_of(store) == "postgresql" else store, max_size=1)
    try:
        done = migrate(db, p.components())
        grant(db, p.roles_of(settings))
    finally:
        db.close()
    return [step.label for step in done]


def migrate_template_database(settings: Settings, home_store: str) -> str:
    """Create (once) and upgrade the database silos are copied from; return its URL."""
    name = silo_template_database(home_store)
    url = with_database(home_store, name)
    with p.admin(p.provision_url(settings, home_store), what=f"CREATE DATABASE {name}") as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"{_owner_clause(settings, home_store)}'.encode())
    migrate_store(settings, url)
    return url


def create_database(settings: Settings, home_store: str, store: str) -> None:
    """``CREATE DATABASE <silo> TEMPLATE <migrated template>``, let the roles connect, give its log a new identity."""
    template = silo_template_database(home_store)
    migrate_template_database(settings, home_store)
    name = store.rsplit("/", 1)[1].split("?", 1)[0]
    grantees = p.roles_of(settings).names()
    with p.admin(p.provision_url(settings, home_store), what=f"CREATE DATABASE {name}") as conn:
        for attempt in range(50):  # the template's last connection may still be closing on the server
            try:
                conn.execute(
                    f'CREATE DATABASE "{name}" TEMPLATE "{template}"{_owner_clause(settings, home_store)}'.encode()
                )
                break
            except Exception as exc:
                if getattr(exc, "sqlstate", None) != OBJECT_IN_USE or attempt == 49:
                    raise
                time.sleep(0.1)
        if grantees:
            to = ", ".join(f'"{g}"' for g in grantees)
            conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO {to}'.encode())
    import psycopg

    with psycopg.connect(p.owner_url(settings, store), autocommit=True) as conn:
        conn.execute(
            "UPDATE eventlog_identity SET log_id = replace(gen_random_uuid()::text, '-', ''), created_at = now()"
        )


def _owner_clause(settings: Settings, home_store: str) -> str:
    """`` OWNER "<owner>"`` when the owner role is not the one provisioning (it must own the copy to migrate it)."""
    owner = p.user_of(p.owner_url(settings, home_store))
    provisioner = p.user_of(p.provision_url(settings, home_store))
    return f' OWNER "{owner}"' if owner and owner != provisioner else ""
