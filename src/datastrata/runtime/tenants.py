"""Which tenants exist and where each lives: the directory the runtime asks before any unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from datastrata.core.errors import NotFound, TenantIsolationError
from datastrata.core.tenancy import DEFAULT_TENANT
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.scope import Scope

#: The isolation models a tenant can be placed in (DESIGN.md §8): pool, bridge and silo.
MODELS = ("shared", "dedicated-storage", "dedicated-infrastructure")

NO_TENANT = (
    "no tenant named: this store holds several tenants, so every command must say whose data it is; "
    "pass --tenant ID (or set DATASTRATA_TENANT), or call with a tenant's API key"
)


@dataclass(frozen=True, slots=True)
class TenantPlacement:
    """One tenant as the directory knows it: its tier and model, its state and epoch, and its own location if any."""

    tenant: str
    tier: str
    model: str
    state: str = "active"
    #: Bumped by every switch of a move: a process holding an older epoch re-reads the directory.
    epoch: int = 1
    #: The tenant's own location (dedicated storage or infrastructure); ``None``: the home location (shared).
    spec: LocationSpec | None = None


class TenantDirectory(Protocol):
    """Answers whether a store holds several tenants and where each one lives."""

    def multi_tenant(self) -> bool:
        """True once any tenant but ``default`` exists (then a scope with no tenant is refused)."""

    def placement(self, tenant: str) -> TenantPlacement:
        """Return where `tenant` lives; raise NotFound for a tenant the directory does not hold."""

    def tenants(self) -> list[TenantPlacement]:
        """Return every tenant, in id order."""

    def invalidate(self) -> None:
        """Forget anything cached (after a change of the catalogue in this process)."""


class SingleTenant:
    """The directory of a store with one tenant, ``default``, in the shared home location."""

    def multi_tenant(self) -> bool:
        """Never: only ``default`` exists."""
        return False

    def placement(self, tenant: str) -> TenantPlacement:
        """Return ``default``'s placement; any other tenant is unknown."""
        if tenant != DEFAULT_TENANT:
            raise NotFound(f"no tenant {tenant!r}: this store has only {DEFAULT_TENANT!r}", field="tenant_id")
        return TenantPlacement(DEFAULT_TENANT, "indie", "shared")

    def tenants(self) -> list[TenantPlacement]:
        """Return ``default`` alone."""
        return [self.placement(DEFAULT_TENANT)]

    def invalidate(self) -> None:
        """Nothing is cached."""


def require_tenant(scope: Scope, directory: TenantDirectory) -> None:
    """Refuse a scope whose tenant nobody chose once the store holds several tenants (fail closed)."""
    if not scope.explicit and directory.multi_tenant():
        raise TenantIsolationError(NO_TENANT, field="tenant_id")
