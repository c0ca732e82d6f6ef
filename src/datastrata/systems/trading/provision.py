"""PostgreSQL regions: New York's home and shard databases and Singapore's, created and migrated on first use."""

from __future__ import annotations

from urllib.parse import urlsplit

from datastrata.core.config import Settings
from datastrata.runtime.location import LocationSpec
from datastrata.systems.trading.topology import Topology
from datastrata.tenancy import provisioning as p
from datastrata.tenancy import silo
from datastrata.tenancy.naming import with_database
from datastrata.tenancy.silo import migrate_store

#: PostgreSQL's SQLSTATE for a database that exists already (a concurrent first use created it).
DUPLICATE_DATABASE = "42P04"


def provision(settings: Settings, where: Topology) -> list[str]:
    """Create every PostgreSQL database of `where` that is missing and apply pending migrations; their names.

    Creating needs a role that may CREATE DATABASE (the store's own, or ``DATASTRATA_PROVISION_STORE``); a refusal is
    a :class:`~datastrata.core.errors.ConfigurationError` saying so. SQLite files are made by opening them.
    """
    made: list[str] = []
    for spec in [where.home, *where.shards.values(), where.singapore]:
        if not _is_postgres(spec.store):
            continue
        if _exists(settings, spec):
            migrate_store(settings, spec.store)  # what a newer release added
        elif _is_postgres(settings.store):  # a copy of the migrated template silos are made from: fast
            silo.create_database(settings, settings.store, spec.store)
            made.append(spec.name)
        else:
            _create(settings, spec)
            migrate_store(settings, spec.store)
            made.append(spec.name)
    return made


def _is_postgres(store: str) -> bool:
    return store.split(":", 1)[0].split("+")[0] in ("postgresql", "postgres")


def _server(settings: Settings, spec: LocationSpec) -> str:
    """A URL of `spec`'s server that may create databases (its maintenance database: `spec`'s may not exist yet)."""
    return with_database(p.provision_url(settings, spec.store), "postgres")


def _exists(settings: Settings, spec: LocationSpec) -> bool:
    name = urlsplit(spec.store).path.lstrip("/")
    with p.admin(_server(settings, spec), what=f"looking up database {name}") as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _create(settings: Settings, spec: LocationSpec) -> bool:
    """Create `spec`'s database unless it exists; True when this call made it."""
    import psycopg

    name = urlsplit(spec.store).path.lstrip("/")
    with p.admin(_server(settings, spec), what=f"CREATE DATABASE {name}") as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None:
            return False
        try:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        except psycopg.Error as exc:
            if getattr(exc, "sqlstate", None) == DUPLICATE_DATABASE:
                return False
            raise
    return True
