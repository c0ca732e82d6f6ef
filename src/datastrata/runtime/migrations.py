"""Migrations for every location a placement names: list or apply what is pending, then grant the roles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from datastrata.core.errors import ConfigurationError
from datastrata.core.tenancy import Namespace
from datastrata.eventlog.checkpoints import MIGRATIONS as CHECKPOINTS
from datastrata.eventlog.schema import MIGRATIONS as EVENTLOG
from datastrata.messaging.schema import MIGRATIONS as MESSAGING
from datastrata.runtime.jobs import MIGRATIONS as JOBS
from datastrata.runtime.location import Location, LocationSpec
from datastrata.runtime.moves import MIGRATIONS as MOVES
from datastrata.runtime.placement import Placement
from datastrata.runtime.roles import Roles, grant
from datastrata.runtime.shardfences import MIGRATIONS as SHARD_FENCES
from datastrata.runtime.tenants import MIGRATIONS as TENANCY
from datastrata.sharding.catalog_schema import MIGRATIONS as SHARD_CATALOG
from datastrata.sharding.loadstore import MIGRATIONS as SHARD_LOAD
from datastrata.sharding.maps import MIGRATIONS as SHARD_MAPS
from datastrata.stores.bound import BoundDatabase
from datastrata.stores.database import Database
from datastrata.stores.migrations import Component, Pending, migrate, unique
from datastrata.stores.migrations import pending as pending_in
from datastrata.stores.open import open_database
from datastrata.tenancy.subject_keys import MIGRATIONS as SUBJECT_KEYS
from datastrata.tiering.schema import ICEBERG_CATALOG
from datastrata.tiering.schema import MIGRATIONS as TIERING
from datastrata.tiering.schema import RESTORES as TIERING_RESTORES
from datastrata.writes.idempotency import MIGRATIONS as IDEMPOTENCY

if TYPE_CHECKING:
    from datastrata.runtime.runtime import Runtime

#: The spine's own components, present in every location (systems and strategy packages add theirs). The tiering
#: move audit, its restore requests and the Iceberg catalog its cold parts may be registered in are three: data of
#: every location may move between tiers (``by_age``).
SPINE: tuple[Component, ...] = (
    EVENTLOG,
    MESSAGING,
    CHECKPOINTS,
    JOBS,
    IDEMPOTENCY,
    TIERING,
    TIERING_RESTORES,
    ICEBERG_CATALOG,
    TENANCY,
    MOVES,
    SUBJECT_KEYS,
    SHARD_MAPS,
    SHARD_LOAD,
    SHARD_FENCES,
    SHARD_CATALOG,
)


@dataclass(frozen=True, slots=True)
class LocationMigrations:
    """What `migrate` did (or, dry, would do) in one location."""

    location: str
    store: str
    migrations: tuple[Pending, ...]
    applied: bool

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-friendly dict (the store URL without secrets)."""
        return {
            "location": self.location,
            "store": self.store,
            "applied": self.applied,
            "migrations": [p.to_dict() for p in self.migrations],
        }


def pending(location: Location | Database, components: Sequence[Component] = SPINE) -> list[Pending]:
    """Return the migrations of `components` not yet applied in `location` (for readiness: one cheap query)."""
    db = location.db if isinstance(location, Location) else location
    return pending_in(db, [*SPINE, *components])


def require_applied(runtime: Runtime, components: Sequence[Component] = SPINE) -> None:
    """Raise unless every location of `runtime`'s placement has `components`' migrations applied (readiness)."""
    for spec in runtime.placement.all():
        todo = pending(runtime.location(spec), components)
        if todo:
            raise ConfigurationError(
                f"{len(todo)} migration(s) are not applied in location {spec.name} ({spec.shown}), the first is "
                f"{todo[0].label}; run `datastrata migrate`"
            )


def migrate_location(
    spec: LocationSpec,
    components: Sequence[Component],
    *,
    dry_run: bool = False,
    owner_store: str | None = None,
    roles: Roles | None = None,
    spine: Sequence[Component] = SPINE,
) -> LocationMigrations:
    """Apply (or list) the pending migrations of `components` in the location `spec` names, then grant `roles`.

    `spine` is what the location holds besides `components` (default: the whole spine; a service's location holds
    only the part its commands and relay use).

    Connects with `owner_store` when given (the owner role's URL), else with the location's own store URL. A
    dedicated-storage tenant's location (a namespace in the store) is migrated in its schema, as the owner, and its
    own role is granted DML there instead of `roles` (which reach it only through ``SET ROLE``).
    """
    db = open_database(owner_store or spec.store, max_size=1)
    try:
        target: Database = db if spec.namespace is None else BoundDatabase(db, Namespace(spec.namespace))
        done = migrate(target, unique([*spine, *components]), dry_run=dry_run)
        if not dry_run and spec.role is not None:
            grant(target, Roles(spec.role))
        elif not dry_run and roles is not None and spec.namespace is None:
            grant(target, roles)  # (a namespace without a role is a template: nobody gets rights on it)
    finally:
        db.close()
    return LocationMigrations(spec.name, spec.shown, tuple(done), applied=not dry_run)


def migrate_placement(
    placement: Placement,
    components: Sequence[Component],
    *,
    dry_run: bool = False,
    owner_store: str | None = None,
    roles: Roles | None = None,
    extra: Sequence[LocationSpec] = (),
) -> list[LocationMigrations]:
    """Apply (or list) the pending migrations in every location of `placement` (and `extra`), one after another.

    `owner_store` is the owner's URL of the home store: locations in that store (dedicated-storage schemas) use it
    as it is, each other PostgreSQL location (a silo) the same credentials on its own database; SQLite locations
    their own file. `extra` are locations no placement names, such as the templates new tenants are copied from.
    """
    specs = [*placement.all(), *extra]
    home = specs[0].store
    return [
        migrate_location(spec, components, dry_run=dry_run, owner_store=_owner_of(spec, home, owner_store), roles=roles)
        for spec in specs
    ]


def _owner_of(spec: LocationSpec, home: str, owner_store: str | None) -> str | None:
    """The owner's URL for `spec`: `owner_store` on the home store, its database swapped in for another server's."""
    if not owner_store or spec.store == home:
        return owner_store
    parts, owner = urlsplit(spec.store), urlsplit(owner_store)
    if not spec.store.startswith(("postgresql:", "postgres:")) or (parts.hostname, parts.port) != (
        owner.hostname,
        owner.port,
    ):
        return None  # SQLite, or a silo on a server of its own: its URL must carry the owner's rights
    return urlunsplit((owner.scheme, owner.netloc, parts.path, owner.query, ""))
