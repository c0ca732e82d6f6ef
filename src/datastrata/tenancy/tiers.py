"""The tiers of the article's table: each names its isolation model, quota, monthly fee, SLA and request rate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datastrata.core.errors import ValidationError

TB = 10**12


@dataclass(frozen=True, slots=True)
class Tier:
    """One tier: where its tenants live, how much they may store, what they pay and how fast they may call."""

    name: str
    model: str
    #: Bytes a tenant may hold (event payloads); ``None``: unlimited.
    quota_bytes: int | None
    monthly_usd: int
    sla_percent: float
    #: Requests per second a tenant's keys may sustain together, and how many they may send at once.
    rate: float
    burst: int

    @property
    def quota_text(self) -> str:
        """The quota as people read it: ``1 TB``, ``unlimited``."""
        return "unlimited" if self.quota_bytes is None else f"{self.quota_bytes / TB:g} TB"

    def to_dict(self) -> dict[str, Any]:
        """Return the tier as JSON-ready data."""
        return {
            "name": self.name,
            "model": self.model,
            "quota_bytes": self.quota_bytes,
            "quota": self.quota_text,
            "monthly_usd": self.monthly_usd,
            "sla_percent": self.sla_percent,
            "rate": self.rate,
            "burst": self.burst,
        }


#: The tiers, from the smallest up (the article's "4. マルチテナンシーアーキテクチャ").
TIERS: dict[str, Tier] = {
    t.name: t
    for t in (
        Tier("indie", "shared", 1 * TB, 500, 99.5, rate=20.0, burst=40),
        Tier("professional", "dedicated-storage", 10 * TB, 5_000, 99.9, rate=100.0, burst=200),
        Tier("enterprise", "dedicated-infrastructure", None, 50_000, 99.99, rate=500.0, burst=1_000),
    )
}


def tier(name: str) -> Tier:
    """Return the tier `name`, or say which tiers exist."""
    found = TIERS.get(name)
    if found is None:
        raise ValidationError(f"tier must be one of {', '.join(TIERS)}; got {name!r}", field="tier")
    return found


def upgrade_of(name: str) -> Tier | None:
    """Return the next tier up from `name` (None: it is the top one)."""
    names = list(TIERS)
    at = names.index(tier(name).name)
    return TIERS[names[at + 1]] if at + 1 < len(names) else None
