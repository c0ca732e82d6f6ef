"""The bridge (dedicated storage): a schema and role per tenant in the shared PostgreSQL store, or a SQLite file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from datastrata.core.errors import RuleViolation, ValidationError
from datastrata.core.tenancy import Namespace
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.roles import Roles, grant
from datastrata.stores.bound import BoundDatabase
from datastrata.stores.database import Database
from datastrata.stores.migrations import migrate
from datastrata.stores.open import open_database
from datastrata.tenancy import provisioning as p
from datastrata.tenancy.clone import clone_schema, drop_schema
from datastrata.tenancy.naming import (
    DEDICATED_STORAGE,
    TEMPLATE_SCHEMA,
    dialect_of,
    template_file_url,
    tenant_spec,
)

if TYPE_CHECKING:
    from datastrata.core.config import Settings
    from datastrata.runtime.runtime import Runtime


class DedicatedStorage:
    """Provisions a tenant's own namespace beside the shared tenants: cloned from a migrated template in ~a second."""

    model = DEDICATED_STORAGE

    def provision(self, runtime: Runtime, tenant: str, *, store: str | None = None) -> LocationSpec | None:
        """Make `tenant`'s schema and role (PostgreSQL) or file (SQLite) from the migrated template; return its spec."""
        if store is not None:
            raise ValidationError(
                "store: a dedicated-storage tenant lives in the home store (a schema or file of its own); "
                "--store is for dedicated-infrastructure",
                field="store",
            )
        spec = tenant_spec(runtime.home.spec, tenant, DEDICATED_STORAGE)
        assert spec is not None
        if dialect_of(spec.store) == "sqlite":
            template = template_file_url(runtime.home.spec.store)
            p.migrated_file(template)
            p.copy_file(template, spec.store)
        else:
            provision_schema(runtime.settings, spec)
        return spec

    def destroy(self, runtime: Runtime, tenant: str, spec: LocationSpec | None) -> None:
        """Drop the tenant's schema and role (or remove its file), its graph and its objects."""
        spec = spec or tenant_spec(runtime.home.spec, tenant, DEDICATED_STORAGE)
        assert spec is not None
        runtime.forget(spec.name)
        if dialect_of(spec.store) == "sqlite":
            p.remove_file(spec.store)
        else:
            destroy_schema(runtime.settings, spec)
        p.remove_graph(spec.graph)
        p.remove_objects(spec.objects)


def migrate_template(settings: Settings, store: str) -> list[str]:
    """Create (once) and upgrade the template schema in the PostgreSQL `store`; return the migrations applied."""
    owner = open_database(p.owner_url(settings, store), max_size=1)
    try:
        return _migrated_template(owner)
    finally:
        owner.close()


def _migrated_template(owner: Database) -> list[str]:
    with owner.transaction() as tx:
        tx.execute(f'CREATE SCHEMA IF NOT EXISTS "{TEMPLATE_SCHEMA}"')
    done = migrate(BoundDatabase(owner, Namespace(TEMPLATE_SCHEMA)), p.components())
    return [step.label for step in done]


def provision_schema(settings: Settings, spec: LocationSpec) -> None:
    """Clone the migrated template into the tenant's schema, make its NOLOGIN role and give it that schema only."""
    assert spec.namespace is not None and spec.role is not None
    owner = open_database(p.owner_url(settings, spec.store), max_size=1)
    try:
        _migrated_template(owner)
        with owner.read() as tx:
            if tx.scalar("SELECT 1 FROM pg_namespace WHERE nspname = ?", (spec.namespace,)):
                raise RuleViolation(
                    f"schema {spec.namespace} exists already: the tenant is provisioned; destroy it first",
                    field="tenant_id",
                )
        create_role(settings, spec)
        try:
            with owner.transaction() as tx:
                clone_schema(tx, TEMPLATE_SCHEMA, Namespace(spec.namespace, spec.role))
            grant(BoundDatabase(owner, Namespace(spec.namespace)), Roles(spec.role))
        except BaseException:
            with owner.transaction() as tx:
                drop_schema(tx, spec.namespace)
            _drop_role(settings, spec)
            raise
    finally:
        owner.close()


def destroy_schema(settings: Settings, spec: LocationSpec) -> None:
    """Drop the tenant's schema (as the owner) and its role (as the provisioning role)."""
    assert spec.namespace is not None
    owner = open_database(p.owner_url(settings, spec.store), max_size=1)
    try:
        with owner.transaction() as tx:
            drop_schema(tx, spec.namespace)
    finally:
        owner.close()
    _drop_role(settings, spec)


def create_role(settings: Settings, spec: LocationSpec) -> None:
    """Make `spec`'s NOLOGIN role (a tenant's or a service's), granted to the app and platform roles.

    They must reach the tenant's schema only through ``SET ROLE``, never by inheriting the role's rights: on
    PostgreSQL 16+ the grant says ``WITH INHERIT FALSE``; before that, the grantees are made ``NOINHERIT``.
    """
    grantees = p.roles_of(settings).names() or [n for n in [p.user_of(spec.store)] if n]
    with p.admin(p.provision_url(settings, spec.store), what=f"CREATE ROLE {spec.role}") as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (spec.role,)).fetchone() is None:
            conn.execute(f'CREATE ROLE "{spec.role}" NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS'.encode())
        modern = int(conn.execute("SHOW server_version_num").fetchone()[0]) >= 160000
        for grantee in grantees:
            conn.execute(f'GRANT "{spec.role}" TO "{grantee}"{" WITH INHERIT FALSE" if modern else ""}'.encode())
            inherits = conn.execute(
                "SELECT rolinherit AND NOT rolsuper FROM pg_roles WHERE rolname = %s", (grantee,)
            ).fetchone()
            if not modern and inherits and inherits[0]:
                conn.execute(f'ALTER ROLE "{grantee}" NOINHERIT'.encode())


def _drop_role(settings: Settings, spec: LocationSpec) -> None:
    with p.admin(p.provision_url(settings, spec.store), what=f"DROP ROLE {spec.role}") as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{spec.role}"'.encode())
