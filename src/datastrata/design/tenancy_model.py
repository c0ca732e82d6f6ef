"""The article's multi-tenancy selection guide: shared, dedicated storage, dedicated infrastructure."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

TenancyModel = Literal["shared", "dedicated-storage", "dedicated-infrastructure"]

_ORDER: tuple[TenancyModel, ...] = ("shared", "dedicated-storage", "dedicated-infrastructure")

#: Per-tenant content size bands (GB) of the selection guide: < 1 TB, 1-100 TB, > 100 TB.
_SIZE_BANDS = (Decimal(1000), Decimal(100_000))
#: Per-tenant monthly budget bands (USD): < $500, $500-5000, > $5000.
_BUDGET_BANDS = (Decimal(500), Decimal(5000))

DESCRIPTIONS: dict[TenancyModel, str] = {
    "shared": "model 1: shared storage and schema, rows/prefixes tagged with tenant_id, isolation by policy",
    "dedicated-storage": "model 2 (hybrid): shared infrastructure, a schema/bucket per tenant",
    "dedicated-infrastructure": "model 3: a dedicated database and infrastructure per tenant",
}


def by_size(per_tenant_gb: Decimal) -> TenancyModel:
    """Model suited to a tenant's content size."""
    return _band(per_tenant_gb, _SIZE_BANDS)


def by_budget(per_tenant_usd: Decimal) -> TenancyModel:
    """Model a tenant's monthly budget pays for."""
    return _band(per_tenant_usd, _BUDGET_BANDS)


def cheaper(first: TenancyModel, second: TenancyModel) -> TenancyModel:
    """The less dedicated of two models."""
    return first if _ORDER.index(first) <= _ORDER.index(second) else second


def _band(value: Decimal, bands: tuple[Decimal, Decimal]) -> TenancyModel:
    if value < bands[0]:
        return "shared"
    if value <= bands[1]:
        return "dedicated-storage"
    return "dedicated-infrastructure"
