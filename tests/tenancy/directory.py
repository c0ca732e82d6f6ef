"""The model tests' tenant directory (in memory) and provisioning into it."""

from __future__ import annotations

from datastrata.runtime.location import LocationSpec
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.tenants import ListedTenants, TenantPlacement
from datastrata.tenancy.models import provisioner

#: The in-memory directory the model tests place their tenants in.
Listed = ListedTenants


def provisioned(runtime: Runtime, directory: Listed, tenant: str, model: str, **options: str) -> LocationSpec | None:
    """Provision `tenant` in `model` and add it to `directory` (what the catalogue's `tenants add` does)."""
    spec = provisioner(model).provision(runtime, tenant, **options)
    directory.place(TenantPlacement(tenant, "professional", model, spec=spec))
    return spec
