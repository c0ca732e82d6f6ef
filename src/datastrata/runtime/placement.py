"""Placements answer one question for every strategy: where does the fact of this scope live?"""

from __future__ import annotations

from typing import Protocol

from datastrata.core.config import Settings
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.scope import Scope

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
