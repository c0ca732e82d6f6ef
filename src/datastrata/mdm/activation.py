"""The activation job a worker runs every round: ``activate()`` when something is due, a cheap read otherwise."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from datastrata.core.tenancy import platform, tenant
from datastrata.mdm.sql import due_tenants
from datastrata.mdm.store import MasterDataStore
from datastrata.runtime.scope import Scope

if TYPE_CHECKING:
    from datastrata.runtime.tenants import TenantPlacement


class ActivationJob:
    """Callable job: announce future-dated versions that took effect and clear lapsed current rows, per tenant.

    Each version is announced under its own tenant (a platform scope cannot append): one read as the platform finds
    the home location's tenants with something due, one read per tenant with a location of its own finds theirs,
    and ``activate`` runs in each such tenant's scope.
    """

    def __init__(
        self,
        store: MasterDataStore,
        *,
        limit: int = 1000,
        tenants: Callable[[], Iterable[TenantPlacement]] = lambda: (),
    ) -> None:
        self.store = store
        self.limit = limit
        #: The tenant directory's tenants (those placed in a location of their own are looked at there).
        self.tenants = tenants

    def due_tenants(self) -> list[str]:
        """The tenants with a version that took effect unannounced or a current row whose period ended."""
        with platform():
            found = set(self._due_in(Scope.platform(self.store.context)))
        for placed in self.tenants():
            if placed.spec is not None:
                with tenant(placed.tenant):
                    found.update(self._due_in(self.store.scope()))
        return sorted(found)

    def due(self) -> bool:
        """True when any tenant has something to activate."""
        return bool(self.due_tenants())

    def __call__(self) -> int:
        """Run one activation batch for each tenant with something due; return how many versions it announced."""
        announced = 0
        for name in self.due_tenants():
            with tenant(name):
                announced += len(self.store.activate(limit=self.limit))
        return announced

    def _due_in(self, scope: Scope) -> list[str]:
        with self.store.units.read(scope) as tx:
            return due_tenants(tx, self.store.clock())
