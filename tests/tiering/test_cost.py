"""The cost model: minimum billable size, archive overhead, early deletion, restores, and a plan's saving."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from datastrata.core.errors import ValidationError
from datastrata.tiering.cost import GB, KB, CostModel
from datastrata.tiering.plan import Item, plan
from datastrata.tiering.policy import parse_policy
from datastrata.tiering.prices import default_prices
from datastrata.tiering.tiers import Tier

NOW = datetime(2026, 12, 1, tzinfo=UTC)
POLICY = parse_policy(
    {
        "name": "objects",
        "datasets": {
            "files": {
                "kind": "objects",
                "prefix": "files/",
                "rules": [{"after": "30d", "to": "warm"}, {"after": "90d", "to": "frozen"}],
            }
        },
    }
)
PRICES = default_prices()
MODEL = CostModel(POLICY, PRICES)


def obj(key: str, size: int, tier: Tier, age_days: int, in_class_days: int) -> Item:
    return Item(
        "files", key, tier, NOW - timedelta(days=age_days), bytes=size, placed_at=NOW - timedelta(days=in_class_days)
    )


def test_small_objects_are_billed_at_the_minimum_size_and_archives_carry_overhead() -> None:
    small = obj("files/a", 10 * 1024, Tier.WARM, 40, 10)
    ia = PRICES.storage_class("STANDARD_IA").usd_per_gb_month
    assert MODEL.monthly(small) == 128 * KB / GB * ia  # 10 KB billed as 128 KB
    glacier, standard = (PRICES.storage_class(c).usd_per_gb_month for c in ("GLACIER", "STANDARD"))
    assert MODEL.monthly(small, Tier.FROZEN) == (10 * KB + 32 * KB) / GB * glacier + 8 * KB / GB * standard
    assert MODEL.monthly(small, Tier.FROZEN) > MODEL.monthly(small, Tier.HOT)  # archiving tiny objects costs more


def test_leaving_a_class_early_bills_the_rest_of_its_minimum_duration() -> None:
    item = obj("files/b", 10 * 1024**3, Tier.WARM, 40, 10)  # 10 GB, 10 of its 30 IA days served
    assert MODEL.early_deletion(item, NOW) == Decimal(20) / Decimal(30) * MODEL.monthly(item)
    assert MODEL.early_deletion(obj("files/c", 1, Tier.WARM, 90, 31), NOW) == 0


def test_restore_quotes_come_from_the_tier_table() -> None:
    quote = MODEL.restore(100 * 1024**3, "GLACIER", "expedited", objects=1000)
    assert quote.usd == Decimal("100") * Decimal("0.03") + Decimal("10.0")
    assert MODEL.restore(1, "DEEP_ARCHIVE", "bulk").hours == 48
    with pytest.raises(ValidationError, match="standard, bulk"):
        MODEL.restore(1, "DEEP_ARCHIVE", "expedited")


def test_a_plan_reports_its_saving_and_its_one_off_charges() -> None:
    big_old = obj("files/big", 50 * 1024**3, Tier.WARM, 100, 20)  # due to freeze, 10 IA days short
    fresh = obj("files/new", 1024**3, Tier.HOT, 1, 1)
    inventory = [big_old, fresh]
    report = MODEL.report(inventory, plan(POLICY, inventory, NOW))
    assert report.all_hot > report.as_placed > report.proposed
    assert report.early_deletion == MODEL.early_deletion(big_old, NOW) > 0
    assert report.transitions == PRICES.storage_class("GLACIER").transition_usd_per_thousand / 1000
    shown = report.to_dict()
    assert Decimal(str(shown["saving_per_month"])) > 0 and set(shown) >= {"as_placed_per_month", "one_off"}
