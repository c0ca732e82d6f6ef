"""Hot/warm/cold/frozen lifecycle policies and how much data each tier holds."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

DAYS_PER_YEAR = 365


@dataclass(frozen=True, slots=True)
class Tier:
    """One tier: where data of a given age lives and how fast it answers."""

    name: str
    store: str
    from_days: int
    to_days: int | None
    access: str


@dataclass(frozen=True, slots=True)
class TieringPolicy:
    """Tiers in age order, and when data is deleted."""

    tiers: tuple[Tier, ...]
    expire_after_days: int | None

    def as_dict(self) -> dict[str, object]:
        """The JSON shape of a policy."""
        return {
            "tiers": [
                {"tier": t.name, "store": t.store, "from_days": t.from_days, "to_days": t.to_days, "access": t.access}
                for t in self.tiers
            ],
            "expire_after_days": self.expire_after_days,
        }


def time_series_policy(retention_years: Decimal | None) -> TieringPolicy:
    """The article's wafer-fab policy: 24 h in memory, 90 days on disk, a year in S3, then deep archive."""
    tiers = (
        Tier("hot", "time-series memory store", 0, 1, "milliseconds; dashboards and alerts"),
        Tier("warm", "time-series magnetic store", 1, 90, "sub-second; analysis over hours to days"),
        Tier("cold", "object storage, Parquet, queried by SQL", 90, DAYS_PER_YEAR, "seconds; batch analysis"),
        Tier("frozen", "archive storage (deep archive)", DAYS_PER_YEAR, None, "hours; restore on demand"),
    )
    return _cut(tiers, retention_years)


def general_policy(primary: str, retention_years: Decimal | None) -> TieringPolicy:
    """The article's lifecycle: 30 days hot, 90 days warm, then object storage, then archive after a year."""
    tiers = (
        Tier("hot", primary, 0, 30, "milliseconds; current work"),
        Tier("warm", f"{primary}, older partitions", 30, 90, "milliseconds; recent history"),
        Tier("cold", "object storage, Parquet, queried by SQL", 90, DAYS_PER_YEAR, "seconds; analysis"),
        Tier("frozen", "archive storage", DAYS_PER_YEAR, None, "minutes to hours; compliance"),
    )
    return _cut(tiers, retention_years)


def artifact_policy(retention_years: Decimal | None) -> TieringPolicy:
    """Lifecycle for large files: standard, then infrequent access, then archive."""
    tiers = (
        Tier("hot", "object storage, standard class", 0, 30, "milliseconds; in production"),
        Tier("warm", "object storage, standard class", 30, 90, "milliseconds; recently finished"),
        Tier("cold", "object storage, infrequent-access class", 90, DAYS_PER_YEAR, "milliseconds, pay per read"),
        Tier("frozen", "archive storage", DAYS_PER_YEAR, None, "hours; plan restores ahead"),
    )
    return _cut(tiers, retention_years)


def tier_volumes(
    policy: TieringPolicy, volume_gb: Decimal, growth_per_year: Decimal, retention_years: Decimal | None
) -> dict[str, Decimal]:
    """Gigabytes held by each tier, assuming data arrives evenly; the oldest tier takes the remainder."""
    if growth_per_year > 0:
        per_day = volume_gb * growth_per_year / DAYS_PER_YEAR
    else:
        days = retention_years * DAYS_PER_YEAR if retention_years is not None else Decimal(DAYS_PER_YEAR)
        per_day = volume_gb / max(days, Decimal(1))
    remaining = volume_gb
    sizes: dict[str, Decimal] = {}
    for index, tier in enumerate(policy.tiers):
        last = index == len(policy.tiers) - 1
        span = None if last or tier.to_days is None else tier.to_days - tier.from_days
        size = remaining if span is None else min(remaining, per_day * span)
        size = size.quantize(Decimal("0.001"))
        sizes[tier.name] = size
        remaining -= size
    return sizes


def _cut(tiers: tuple[Tier, ...], retention_years: Decimal | None) -> TieringPolicy:
    if retention_years is None:
        return TieringPolicy(tiers, None)
    expire = int((retention_years * DAYS_PER_YEAR).to_integral_value())
    kept = tuple(tier for tier in tiers if tier.from_days < expire)
    if kept and (kept[-1].to_days is None or kept[-1].to_days > expire):
        last = kept[-1]
        kept = (*kept[:-1], Tier(last.name, last.store, last.from_days, expire, last.access))
    return TieringPolicy(kept, expire)
