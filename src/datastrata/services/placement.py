"""``by_context``: database per service; each bounded context lives in its own location, reached as its own role.

A service's location is a SQLite file of its own beside the home store (embedded), or a PostgreSQL schema of its
own in the home store, every transaction of which runs as the service's own role (``SET LOCAL ROLE``): that role
has rights on its schema only, so one service reading another's tables is refused by the database itself. Scopes of
contexts that are not services live at home.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from datastrata.core.config import sqlite_path
from datastrata.core.errors import ConfigurationError, ValidationError
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.scope import Scope

#: What a service's name may be: a context name without dots (it names a schema, a role and a file).
_SERVICE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: The folder beside a SQLite home store that holds the services' own files.
SERVICES_FOLDER = "services"


def check_service(name: object) -> str:
    """Return `name` if it can name a service: 1-40 of a-z, 0-9 and '_', starting with a letter."""
    if not isinstance(name, str) or not _SERVICE.match(name):
        raise ValidationError(
            f"service must be 1-40 of a-z, 0-9 and '_', starting with a letter (it names a schema, a role and a "
            f"file); got {name!r}",
            field="service",
        )
    return name


def service_spec(home: LocationSpec, service: str) -> LocationSpec:
    """Return where `service` lives beside the home location `home` (derived from the names alone).

    SQLite: the file ``services/<service>.db`` beside the home store. PostgreSQL: schema and role
    ``svc_<service>_<sha8>`` in the home store (roles are cluster-wide, so the hash covers the home database).
    A service keeps no graph and no objects of its own.
    """
    name = check_service(service)
    if _dialect(home.store) == "sqlite":
        folder = PurePosixPath(str(sqlite_path(home.store).parent)) / SERVICES_FOLDER
        query_part = urlsplit(home.store).query
        store = f"sqlite:///{folder / name}.db" + (f"?{query_part}" if query_part else "")
        return LocationSpec(name, store, "", "")
    database = urlsplit(home.store).path.lstrip("/")
    digest = hashlib.sha256(f"{database}/{name}".encode()).hexdigest()[:8]
    schema = f"svc_{name}_{digest}"
    return LocationSpec(name, home.store, "", "", namespace=schema, role=schema)


class ByContext:
    """Each service's scopes in the service's own location; every other context's at home."""

    kind = "by_context"

    def __init__(self, services: Mapping[str, LocationSpec], home: LocationSpec) -> None:
        if not services:
            raise ConfigurationError("by_context needs at least one service location")
        for name, spec in services.items():
            check_service(name)
            if spec.name == home.name:
                raise ConfigurationError(f"service {name!r} has the home location's name; rename the service")
        self.services = dict(services)
        self.home = home

    def owns(self, context: str) -> str | None:
        """Return the service owning `context` (``orders`` and ``orders.lines`` are the orders service's), or None."""
        service = context.split(".", 1)[0]
        return service if service in self.services else None

    def service(self, name: str) -> LocationSpec:
        """Return service `name`'s location."""
        try:
            return self.services[name]
        except KeyError:
            raise ValidationError(
                f"no service {name!r}; the services are {', '.join(self.services)}", field="service"
            ) from None

    def locate(self, scope: Scope) -> LocationSpec:
        """The location of the service owning the scope's context; home for any other context."""
        owner = self.owns(scope.context)
        return self.home if owner is None else self.services[owner]

    def locations(self, scope: Scope) -> list[LocationSpec]:
        """The one location of the scope's context (a service never spans another's store)."""
        return [self.locate(scope)]

    def holding(self, context: str) -> list[LocationSpec]:
        """The one location where scopes of `context` live: its service's, or home."""
        return [self.locate(Scope(context))]

    def all(self) -> list[LocationSpec]:
        """Home first, then every service's location."""
        return [self.home, *self.services.values()]


def by_context(home: LocationSpec, services: Iterable[str]) -> ByContext:
    """Return the placement of `services` beside `home`, each in the location :func:`service_spec` derives."""
    return ByContext({name: service_spec(home, name) for name in services}, home)


def _dialect(url: str) -> str:
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    if scheme == "sqlite":
        return "sqlite"
    raise ConfigurationError(f"services live in SQLite or PostgreSQL stores; got {scheme}:// in --store")
