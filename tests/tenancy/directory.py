"""A tenant directory held in memory for the model tests (the catalogue's stored one is another part's)."""

from __future__ import annotations

from datastrata.core.errors import NotFound
from datastrata.core.tenancy import DEFAULT_TENANT
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.tenants import TenantPlacement
from datastrata.tenancy.models import provisioner


class Listed:
    """The TenantDirectory protocol over a dict: ``default`` is shared, every other tenant is added."""

    def __init__(self) -> None:
        self.placed: dict[str, TenantPlacement] = {}

    def multi_tenant(self) -> bool:
        """True once a tenant besides default was added."""
        return bool(self.placed)

    def placement(self, tenant: str) -> TenantPlacement:
        """The tenant's placement; NotFound for one never added."""
        if tenant == DEFAULT_TENANT:
            return TenantPlacement(DEFAULT_TENANT, "indie", "shared")
        try:
            return self.placed[tenant]
        except KeyError:
            raise NotFound(f"no tenant {tenant!r}", field="tenant_id") from None

    def tenants(self) -> list[TenantPlacement]:
        """Every added tenant, in id order."""
        return [self.placed[t] for t in sorted(self.placed)]

    def invalidate(self) -> None:
        """Nothing cached."""


def provisioned(runtime: Runtime, directory: Listed, tenant: str, model: str, **options: str) -> LocationSpec | None:
    """Provision `tenant` in `model` and add it to `directory` (what the catalogue's `tenants add` does)."""
    spec = provisioner(model).provision(runtime, tenant, **options)
    directory.placed[tenant] = TenantPlacement(tenant, "professional", model, spec=spec)
    return spec
