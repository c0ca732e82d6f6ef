"""What tiering costs: storage per class with its minimum size, duration and archive overhead; moves; restores.

Tiering is a trap when these are ignored: an object smaller than 128 KB in infrequent access is billed as 128 KB;
each archived object carries 40 KB of index (32 KB at the archive price, 8 KB at the standard price); leaving a
class before its minimum duration (30, 90 or 180 days) bills the remaining days; every transition is a request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from datastrata.core.clock import ensure_utc
from datastrata.tiering.plan import Item, Plan
from datastrata.tiering.policy import Policy
from datastrata.tiering.prices import TieringPrices
from datastrata.tiering.tiers import Kind, Tier

GB = Decimal(1024**3)
KB = Decimal(1024)
CENT = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Quote:
    """What restoring some archived bytes costs and how long it takes."""

    storage_class: str
    tier: str
    hours: Decimal
    usd: Decimal


@dataclass(frozen=True, slots=True)
class CostReport:
    """A month's storage cost as placed, all hot, and under a proposed plan, with its one-off charges."""

    as_placed: Decimal
    all_hot: Decimal
    proposed: Decimal
    early_deletion: Decimal
    transitions: Decimal
    currency: str
    prices: str

    @property
    def saving_per_month(self) -> Decimal:
        """How much less a month costs once the proposed moves are made (negative: more)."""
        return self.as_placed - self.proposed

    @property
    def one_off(self) -> Decimal:
        """The charges the proposed moves bill once: early deletion and transition requests."""
        return self.early_deletion + self.transitions

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-friendly dict (amounts as decimal text)."""
        q = _amount
        return {
            "currency": self.currency,
            "prices": self.prices,
            "as_placed_per_month": q(self.as_placed),
            "all_hot_per_month": q(self.all_hot),
            "proposed_per_month": q(self.proposed),
            "saving_per_month": q(self.saving_per_month),
            "one_off": {"early_deletion": q(self.early_deletion), "transitions": q(self.transitions)},
            "first_month_net": q(self.saving_per_month - self.one_off),
        }


def _amount(value: Decimal) -> str:
    return str(value.quantize(CENT))


class CostModel:
    """Prices a policy's placements from a price table."""

    def __init__(self, policy: Policy, prices: TieringPrices) -> None:
        self.policy = policy
        self.prices = prices

    def storage_class(self, item: Item, tier: Tier | None = None) -> str | None:
        """The class `item` is billed in at `tier` (its own by default); None for rows and streams held online."""
        tier = tier or item.tier
        if tier is Tier.EXPIRED:
            return None
        if self.policy.datasets[item.dataset].kind in (Kind.ROWS, Kind.SEGMENTS) and tier in (Tier.HOT, Tier.WARM):
            return None
        return self.policy.storage_class(tier)

    def monthly(self, item: Item, tier: Tier | None = None) -> Decimal:
        """What storing `item` at `tier` costs a month: billable size, archive overhead and all."""
        tier = tier or item.tier
        if tier is Tier.EXPIRED:
            return Decimal(0)
        name = self.storage_class(item, tier)
        if name is None:
            return Decimal(item.bytes) / GB * self.prices.online_usd_per_gb_month
        price = self.prices.storage_class(name)
        billable = max(Decimal(item.bytes), price.min_billable_kb * KB) + price.overhead_kb_class * KB
        standard = self.prices.storage_class("STANDARD").usd_per_gb_month
        return billable / GB * price.usd_per_gb_month + price.overhead_kb_standard * KB / GB * standard

    def early_deletion(self, item: Item, now: datetime) -> Decimal:
        """What leaving the item's class now bills for the rest of its minimum duration."""
        name = self.storage_class(item)
        if name is None or item.placed_at is None:
            return Decimal(0)
        price = self.prices.storage_class(name)
        days_in = Decimal((now - item.placed_at).total_seconds()) / Decimal(86_400)
        remaining = Decimal(price.min_days) - days_in
        if remaining <= 0:
            return Decimal(0)
        return remaining / Decimal(self.prices.days_per_month) * self.monthly(item)

    def restore(self, size: int, storage_class: str, tier: str, *, objects: int = 1) -> Quote:
        """What restoring `size` bytes in `objects` objects of `storage_class` with `tier` costs, and how long."""
        price = self.prices.restore(storage_class, tier)
        usd = Decimal(size) / GB * price.usd_per_gb + Decimal(objects) / 1000 * price.usd_per_thousand_requests
        return Quote(storage_class, tier, price.hours, usd)

    def report(self, inventory: Iterable[Item], proposed: Plan) -> CostReport:
        """Price the inventory as placed, as if all hot, and after `proposed`'s moves (with one-off charges)."""
        items = list(inventory)
        now = ensure_utc(proposed.at, field="at")
        target = {(m.item.dataset, m.item.key, m.item.tier): m.to for m in proposed.moves}
        as_placed = sum((self.monthly(i) for i in items), Decimal(0))
        all_hot = sum((self.monthly(i, Tier.HOT) for i in items), Decimal(0))
        after = Decimal(0)
        early = Decimal(0)
        transitions = Decimal(0)
        for item in items:
            to = target.get((item.dataset, item.key, item.tier))
            after += self.monthly(item, to)
            if to is None:
                continue
            early += self.early_deletion(item, now)
            name = self.storage_class(item, to)
            if name is not None:
                transitions += self.prices.storage_class(name).transition_usd_per_thousand / 1000
        return CostReport(as_placed, all_hot, after, early, transitions, self.prices.currency, f"{self.prices.date}")
