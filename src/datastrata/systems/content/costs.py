"""A studio's monthly cost and its optimisation (``cost_optimization_analysis``), priced by the tiering cost model.

The month is the tier's fee plus each footage object priced in its storage class as placed (minimum billable size
and archive overhead included: :class:`~datastrata.tiering.cost.CostModel`). Each item's views a day over the last
30 days give the recommendation: under 1 → archive (saving ~80 % of its storage), over 1,000 → premium (+30 %).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from datastrata.stores.database import time_to_db
from datastrata.systems.content import domain
from datastrata.systems.content.keys import footage_owner
from datastrata.tenancy.tiers import TIERS
from datastrata.tiering.cost import CostModel
from datastrata.tiering.plan import Item
from datastrata.tiering.prices import TieringPrices, default_prices

if TYPE_CHECKING:
    from datastrata.systems.content.lifecycle import Lifecycle

_Q = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class CostReport:
    """One studio's month: fee, storage by class, the total, and what the recommendations would change."""

    tenant: str
    tier: str
    model: str
    fee: Decimal
    by_class: dict[str, tuple[int, int, Decimal]]
    recommendations: tuple[domain.Recommendation, ...]
    currency: str

    @property
    def storage(self) -> Decimal:
        """The month's storage cost, every class."""
        return sum((usd for _, _, usd in self.by_class.values()), Decimal(0))

    @property
    def total(self) -> Decimal:
        """Fee plus storage."""
        return self.fee + self.storage

    @property
    def potential_saving(self) -> Decimal:
        """What the archive recommendations save a month."""
        return -sum((r.change_usd for r in self.recommendations if r.change_usd < 0), Decimal(0))

    @property
    def upgrade_cost(self) -> Decimal:
        """What the upgrade recommendations add a month."""
        return sum((r.change_usd for r in self.recommendations if r.change_usd > 0), Decimal(0))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict (amounts as decimal text)."""
        return {
            "tenant": self.tenant,
            "tier": self.tier,
            "model": self.model,
            "currency": self.currency,
            "tier_fee": str(self.fee),
            "storage": {
                name: {"objects": n, "bytes": size, "usd": str(usd.quantize(_Q))}
                for name, (n, size, usd) in sorted(self.by_class.items())
            },
            "storage_usd": str(self.storage.quantize(_Q)),
            "monthly_usd": str(self.total.quantize(_Q)),
            "recommendations": [r.to_dict() for r in self.recommendations],
            "potential_saving_usd": str(self.potential_saving.quantize(_Q)),
            "upgrade_cost_usd": str(self.upgrade_cost.quantize(_Q)),
        }


def cost_report(lifecycle: Lifecycle, tenant: str, *, prices: TieringPrices | None = None) -> CostReport:
    """Price `tenant`'s month from its tier, its footage objects as placed and its items' views."""
    service = lifecycle.service
    runtime = lifecycle.runtime
    studio = service.studio(tenant)
    prices = prices or default_prices()
    by_class: dict[str, list[Any]] = defaultdict(lambda: [0, 0, Decimal(0)])
    per_item: dict[str, Decimal] = {}
    scope = service.scope(None, caller_region="*", owner=tenant)
    location = runtime.locate(scope)
    for mover in lifecycle.movers(location, [tenant]):
        model = CostModel(mover.policy, prices)
        for item in mover.inventory():
            item_id = _item_of(item, tenant)
            if item_id is None:
                continue
            usd = model.monthly(item)
            name = model.storage_class(item) or "online"
            entry = by_class[name]
            entry[0], entry[1], entry[2] = entry[0] + 1, entry[1] + item.bytes, entry[2] + usd
            per_item[item_id] = per_item.get(item_id, Decimal(0)) + usd
    since = runtime.clock() - timedelta(days=domain.USAGE_DAYS)
    with service.in_region(scope), runtime.read(scope) as work:
        items = [str(r[0]) for r in work.query("SELECT item_id FROM content_items WHERE tenant_id = ?", (tenant,))]
        views: dict[str, int] = dict(
            work.query(
                "SELECT item_id, SUM(views) FROM content_views WHERE tenant_id = ? AND hour >= ? GROUP BY item_id",
                (tenant, time_to_db(work.dialect, since)),
            )
        )
    recommendations = []
    for item_id in sorted(items):
        per_day = Decimal(int(views.get(item_id) or 0)) / domain.USAGE_DAYS
        found = domain.recommend(item_id, per_day, per_item.get(item_id, Decimal(0)))
        if found is not None:
            recommendations.append(found)
    return CostReport(
        tenant,
        studio.tier,
        studio.model,
        Decimal(TIERS[studio.tier].monthly_usd) if studio.tier in TIERS else Decimal(0),
        {k: (int(v[0]), int(v[1]), v[2]) for k, v in by_class.items()},
        tuple(recommendations),
        prices.currency,
    )


def _item_of(item: Item, tenant: str) -> str | None:
    """The item id of a footage object of `tenant`, else None."""
    owner = footage_owner(item.key)
    return owner[1] if owner is not None and owner[0] == tenant else None
