"""Placement, viral detection and cost signals at their boundaries; the cost report from its inputs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.tenancy import tenant
from datastrata.systems.content import domain
from datastrata.systems.content.service import ContentService
from datastrata.tenancy.tiers import TIERS
from datastrata.tiering.prices import default_prices

GB = Decimal(1024**3)


@pytest.mark.parametrize(
    ("budget", "views", "tier", "storage_class", "replication"),
    [
        ("100000000.01", 0, "premium", "STANDARD", "cross_region"),
        ("100000000", 10_000_001, "standard", "STANDARD", "same_region"),
        ("100000000", 10_000_000, "basic", "STANDARD_IA", "none"),
        ("0", 0, "basic", "STANDARD_IA", "none"),
    ],
)
def test_placement_rules_at_their_boundaries(
    budget: str, views: int, tier: str, storage_class: str, replication: str
) -> None:
    assert domain.place(Decimal(budget), views) == domain.Placement(tier, storage_class, replication)


@pytest.mark.parametrize(
    ("per_hour", "growth", "regions", "viral"),
    [
        (100_001, "5.01", 11, True),
        (100_000, "6", 11, False),
        (100_001, "5", 11, False),
        (100_001, "6", 10, False),
        (100_001, None, 11, True),  # out of nowhere: no hour before, growth unbounded
    ],
)
def test_viral_detection_boundaries(per_hour: int, growth: str | None, regions: int, viral: bool) -> None:
    m = domain.ViewMetrics(per_hour, None if growth is None else Decimal(growth), regions)
    assert domain.is_viral(m) is viral


def test_metrics_count_regions_and_growth() -> None:
    m = domain.metrics({"eu": 600, "asia": 400}, 200)
    assert (m.views_per_hour, m.growth_rate, m.regions) == (1000, Decimal(5), 2)


@pytest.mark.parametrize(
    ("per_day", "action"),
    [("0.99", "move_to_archive"), ("1", None), ("1000", None), ("1000.01", "upgrade_to_premium")],
)
def test_cost_signals_at_their_boundaries(per_day: str, action: str | None) -> None:
    found = domain.recommend("x", Decimal(per_day), Decimal("10"))
    assert (found.action if found else None) == action
    if found is not None:
        assert found.change_usd == (Decimal("-8") if action == "move_to_archive" else Decimal("3"))


def test_a_viral_hour_upgrades_the_item_and_flags_one_tier_review(svc: ContentService, clock: FrozenClock) -> None:
    hour = clock().replace(minute=0) - timedelta(hours=2)
    with tenant("hbo-max"):
        svc.upload("hit", "Hit", b"x" * 1000, expected_views=5)
        svc.upload("other", "Other", b"y" * 1000, expected_views=5)
        assert svc.objects(svc.scope("hit")).info(svc.item("hit").object_key).storage_class == "STANDARD_IA"
        svc.record_views("hit", hour, {"eu": 20_000})
        spread = {f"r{i:02d}": 10_000 for i in range(10)}
        calm = svc.record_views("hit", hour + timedelta(hours=1), spread)  # 100,000 over 10 regions: not yet
        assert [e.type for e in calm.events] == ["ViewsRecorded"]
        more = svc.record_views(
            "hit", hour + timedelta(hours=1), {"r10": 1}
        )  # 100,001 views, 11 regions, 5.00005 times
        assert [e.type for e in more.events] == ["ViewsRecorded", "ContentWentViral", "TierReviewFlagged"]
        item = svc.item("hit")
        assert (item.placement, item.storage_class, item.replication) == ("premium", "STANDARD", "cross_region")
        assert svc.objects(svc.scope("hit")).info(item.object_key).storage_class == "STANDARD"
        svc.record_views("other", hour, {"eu": 1})
        again = svc.record_views("other", hour + timedelta(hours=1), {f"r{i:02d}": 20_000 for i in range(11)})
        assert [e.type for e in again.events] == ["ViewsRecorded", "ContentWentViral"]  # one open review at a time
        [review] = svc.reviews()
        assert (review["item_id"], review["from"], review["to"], review["state"]) == (
            "hit",
            "shared",
            "dedicated-storage",
            "open",
        )
        decided = svc.decline_review(review["review_id"])  # accepting one moves the studio: test_reviews.py
        assert decided.events[0].payload["state"] == "declined"
        assert svc.reviews()[0]["move"] is None
        with pytest.raises(Exception, match="already declined"):
            svc.decline_review(review["review_id"])
    with tenant("other-studio"):
        assert svc.reviews() == []


def test_the_cost_report_is_the_tier_fee_plus_each_object_in_its_class(svc: ContentService, clock: FrozenClock) -> None:
    prices = default_prices()
    sizes = {"quiet": 300_000, "steady": 400_000, "busy": 100_000}
    with tenant("indie-creator"):
        for item_id, size in sizes.items():
            svc.upload(item_id, item_id, b"z" * size, budget="10")  # basic: STANDARD_IA
        start = clock().replace(minute=0) - timedelta(days=2)
        svc.record_views("steady", start, {"eu": 45})  # 45 views in 30 days: 1.5 a day
        svc.record_views("busy", start, {"eu": 30_001})  # 1,000.03 a day
        report = svc.cost()
    ia = prices.storage_class("STANDARD_IA")

    def monthly(size: int) -> Decimal:
        return max(Decimal(size), ia.min_billable_kb * 1024) / GB * ia.usd_per_gb_month

    storage = sum(monthly(s) for s in sizes.values())
    assert report.by_class == {"STANDARD_IA": (3, sum(sizes.values()), storage)}
    assert report.fee == Decimal(TIERS["indie"].monthly_usd)
    assert report.total == Decimal(TIERS["indie"].monthly_usd) + storage
    found = {r.item_id: r for r in report.recommendations}
    assert set(found) == {"quiet", "busy"}
    assert found["quiet"].action == "move_to_archive"
    assert found["quiet"].change_usd == -monthly(sizes["quiet"]) * Decimal("0.8")
    assert found["busy"].action == "upgrade_to_premium"
    assert found["busy"].change_usd == monthly(sizes["busy"]) * Decimal("0.3")
    assert report.potential_saving == monthly(sizes["quiet"]) * Decimal("0.8")
    with tenant("someone-else"):
        assert svc.cost().by_class == {}  # another studio's objects are not in its bill
