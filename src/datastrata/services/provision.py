"""Make each service's own store and apply its own migrations: a SQLite file, or a PostgreSQL schema and role.

On PostgreSQL the service's role is NOLOGIN and reached only through ``SET LOCAL ROLE`` by the application and
platform roles (the bridge tenants' mechanism, :func:`datastrata.tenancy.bridge.create_role`); migrations run as
the owner in the service's schema and then grant the service's role DML there and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from datastrata.core.config import Settings, sqlite_path
from datastrata.eventlog.checkpoints import MIGRATIONS as CHECKPOINTS
from datastrata.eventlog.schema import MIGRATIONS as EVENTLOG
from datastrata.messaging.schema import MIGRATIONS as MESSAGING
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.migrations import LocationMigrations, migrate_location
from datastrata.runtime.runtime import EVERY_LOCATION
from datastrata.services.placement import ByContext
from datastrata.stores.migrations import Component, Pending, unique
from datastrata.stores.open import open_database
from datastrata.tenancy import provisioning as p
from datastrata.tenancy.bridge import create_role
from datastrata.tenancy.subject_keys import MIGRATIONS as SUBJECT_KEYS
from datastrata.writes.idempotency import MIGRATIONS as IDEMPOTENCY

#: What a service's store holds besides the service's own tables: its log (and the keys sealing personal fields in
#: it), its inbox, its relay's checkpoints, its commands' idempotency keys, and what every location holds. No jobs,
#: tiering or shard catalogue: those live at home.
SERVICE_SPINE: tuple[Component, ...] = (EVENTLOG, SUBJECT_KEYS, MESSAGING, CHECKPOINTS, IDEMPOTENCY, *EVERY_LOCATION)


def provision(
    settings: Settings,
    placement: ByContext,
    components: Mapping[str, Sequence[Component]],
    *,
    dry_run: bool = False,
    made_only: bool = False,
) -> list[LocationMigrations]:
    """Make every service's store of `placement` (once) and apply `components[service]` there; what each did.

    With `made_only` (what ``datastrata migrate`` and readiness do), a service whose store was never made is left
    alone: it is made on its first use, by a role that may create its role.
    """
    return [
        provision_service(settings, spec, components.get(name, ()), dry_run=dry_run)
        for name, spec in placement.services.items()
        if not made_only or made(settings, spec)
    ]


def made(settings: Settings, spec: LocationSpec) -> bool:
    """Whether the service's store exists: its SQLite file, or its PostgreSQL schema."""
    if spec.namespace is None:
        return Path(sqlite_path(spec.store)).exists()
    db = open_database(p.owner_url(settings, spec.store), max_size=1)
    try:
        with db.read() as tx:
            return tx.scalar("SELECT 1 FROM pg_namespace WHERE nspname = ?", (spec.namespace,)) is not None
    finally:
        db.close()


def provision_service(
    settings: Settings, spec: LocationSpec, components: Sequence[Component], *, dry_run: bool = False
) -> LocationMigrations:
    """Make the service's file, or its schema and role, and apply its migrations (the spine's and `components`)."""
    if spec.namespace is None:
        Path(sqlite_path(spec.store)).parent.mkdir(parents=True, exist_ok=True)
        return migrate_location(spec, components, dry_run=dry_run, spine=SERVICE_SPINE)
    owner = p.owner_url(settings, spec.store)
    if dry_run and not made(settings, spec):  # nothing made yet: every migration is pending
        todo = [Pending(c.name, m) for c in unique([*SERVICE_SPINE, *components]) for m in c.on("postgresql")]
        return LocationMigrations(spec.name, spec.shown, tuple(todo), applied=False)
    if not dry_run:
        create_role(settings, spec)
        db = open_database(owner, max_size=1)
        try:
            with db.transaction() as tx:
                tx.execute(f'CREATE SCHEMA IF NOT EXISTS "{spec.namespace}"')
        finally:
            db.close()
    return migrate_location(spec, components, dry_run=dry_run, owner_store=owner, spine=SERVICE_SPINE)
