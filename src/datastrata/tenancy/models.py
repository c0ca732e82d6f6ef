"""The isolation models and what provisions a tenant's place in each: pool, bridge (dedicated storage), silo."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from datastrata.core.errors import ValidationError
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.tenants import MODELS

if TYPE_CHECKING:
    from datastrata.runtime.runtime import Runtime


class Provisioner(Protocol):
    """Makes (and unmakes) a tenant's place in one isolation model."""

    def provision(self, runtime: Runtime, tenant: str, *, store: str | None = None) -> LocationSpec | None:
        """Create `tenant`'s location (``None``: the tenant lives in the home location) and migrate it."""

    def destroy(self, runtime: Runtime, tenant: str, spec: LocationSpec | None) -> None:
        """Remove what `provision` made for `tenant` (its schema, file, database or object root)."""


class Shared:
    """The pool: the tenant's rows live in the home location beside every other shared tenant's."""

    def provision(self, runtime: Runtime, tenant: str, *, store: str | None = None) -> LocationSpec | None:
        """Nothing to make: rows carry ``tenant_id`` and the store enforces it."""
        if store is not None:
            raise ValidationError("store: a shared tenant lives in the home store; drop --store", field="store")
        return None

    def destroy(self, runtime: Runtime, tenant: str, spec: LocationSpec | None) -> None:
        """Nothing to remove (the tenant's rows are deleted by offboarding, not by the model)."""


def _provisioners() -> dict[str, Provisioner]:
    from datastrata.tenancy.bridge import DedicatedStorage
    from datastrata.tenancy.silo import DedicatedInfrastructure

    return {
        "shared": Shared(),
        "dedicated-storage": DedicatedStorage(),
        "dedicated-infrastructure": DedicatedInfrastructure(),
    }


#: The provisioner of each isolation model: the pool, the bridge (dedicated storage), the silo (infrastructure).
PROVISIONERS: dict[str, Provisioner] = _provisioners()


def provisioner(model: str) -> Provisioner:
    """Return the provisioner of `model`, or say which models exist."""
    if model not in MODELS:
        raise ValidationError(f"model must be one of {', '.join(MODELS)}; got {model!r}", field="model")
    found = PROVISIONERS.get(model)
    if found is None:
        raise ValidationError(f"model {model!r} cannot be provisioned in this build yet", field="model")
    return found
