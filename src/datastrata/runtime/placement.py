"""Placements answer one question for every strategy: where does the fact of this scope live?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from datastrata.core.config import Settings
from datastrata.core.errors import NotFound
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.scope import Scope

if TYPE_CHECKING:
    from datastrata.runtime.tenants import TenantDirectory

#: The name of the one location of the `single` placement (and of every runtime's home location).
HOME = "main"


class Placement(Protocol):
    """Maps scopes to locations; pure (no I/O): the runtime opens what it names."""

    @property
    def kind(self) -> str:
        """The placement's kind: ``single``, later ``by_tenant``, ``by_shard``, ``by_context``, ``by_age``."""

    def locate(self, scope: Scope) -> LocationSpec:
        """Return the one location of a keyed operation in `scope`."""

    def locations(self, scope: Scope) -> list[LocationSpec]:
        """Return every location an operation spanning `scope` must visit (a scatter, a tenant's contexts…)."""

    def all(self) -> list[LocationSpec]:
        """Return every location this placement can name (what the supervisor follows and `migrate` upgrades)."""


@runtime_checkable
class ContextPlacement(Protocol):
    """A placement that knows which of its locations can hold a context's scopes (``by_context``)."""

    def holding(self, context: str) -> list[LocationSpec]:
        """Return every location where scopes of `context` can live."""


def holding(placement: Placement, context: str) -> list[LocationSpec]:
    """Every location where scopes of `context` can live: the placement's own answer, else every location it names."""
    if isinstance(placement, ContextPlacement):
        return placement.holding(context)
    return placement.all()


class Single:
    """Every scope lives in one location: the store, graph and objects the settings name."""

    kind = "single"

    def __init__(self, spec: LocationSpec) -> None:
        self.spec = spec

    @classmethod
    def from_settings(cls, settings: Settings) -> Single:
        """Return the single placement of `settings`' store."""
        return cls(LocationSpec(HOME, settings.store, settings.graph, settings.objects))

    def locate(self, scope: Scope) -> LocationSpec:
        """Every scope: the one location."""
        return self.spec

    def locations(self, scope: Scope) -> list[LocationSpec]:
        """Every scope: the one location."""
        return [self.spec]

    def all(self) -> list[LocationSpec]:
        """The one location."""
        return [self.spec]


class ByTenant:
    """Each tenant's scopes live in its own location (dedicated storage or infrastructure), the rest at home."""

    kind = "by_tenant"

    def __init__(self, directory: TenantDirectory, home: LocationSpec) -> None:
        self.directory = directory
        self.home = home

    @classmethod
    def from_settings(cls, settings: Settings, directory: TenantDirectory) -> ByTenant:
        """Return the by-tenant placement of `settings`' home store and `directory`'s tenants."""
        return cls(directory, Single.from_settings(settings).spec)

    def locate(self, scope: Scope) -> LocationSpec:
        """The location of the scope's tenant (its own spec, else home); an unknown tenant lives at home."""
        return self.of(scope.tenant)

    def of(self, tenant: str) -> LocationSpec:
        """Return `tenant`'s location: the spec its placement names, else home (unknown tenants included)."""
        try:
            spec = self.directory.placement(tenant).spec
        except NotFound:
            return self.home
        return spec or self.home

    def locations(self, scope: Scope) -> list[LocationSpec]:
        """The one location of the scope's tenant."""
        return [self.locate(scope)]

    def all(self) -> list[LocationSpec]:
        """Home first, then every tenant's own location (in tenant order, each once)."""
        specs: dict[str, LocationSpec] = {self.home.name: self.home}
        for placed in self.directory.tenants():
            if placed.spec is not None:
                specs.setdefault(placed.spec.name, placed.spec)
        return list(specs.values())
