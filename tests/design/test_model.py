"""Determinism, costs, prices, budget tiers, lifecycle sizing and the ten-context spec."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from datastrata.core.errors import ValidationError
from datastrata.design import default_prices, design, load_prices, load_spec, render_markdown, report_to_json
from datastrata.design.cost import budget_tier
from datastrata.design.lifecycle import general_policy, tier_volumes, time_series_policy
from datastrata.design.report import DesignReport
from datastrata.design.units import frequency_of_rate, parse_fraction, parse_volume_gb

from .helpers import context, families, strategies


def test_design_is_deterministic(examples_dir: Path) -> None:
    spec = load_spec(examples_dir / "netflix.yaml")
    first, second = design(spec), design(load_spec(examples_dir / "netflix.yaml"))
    assert render_markdown(first) == render_markdown(second)
    assert json.dumps(report_to_json(first), sort_keys=True) == json.dumps(report_to_json(second), sort_keys=True)


def test_totals_add_up(uber_eats: DesignReport) -> None:
    assert uber_eats.aws_usd_per_month == sum(c.aws_usd_per_month for c in uber_eats.contexts)
    for ctx in uber_eats.contexts:
        assert ctx.aws_usd_per_month == sum(t.cost.aws.usd_per_month for t in ctx.technologies)
        assert ctx.aws_usd_per_month > 0 and ctx.self_hosted_usd_per_month > 0


def test_price_table_carries_source_and_date() -> None:
    table = default_prices()
    assert "AWS" in table.source and table.date
    assert table.region == "us-east-1"


def test_bad_price_file_is_a_validation_error(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"aws": {"relational": {"model": "magic"}}}))
    with pytest.raises(ValidationError) as caught:
        load_prices(path)
    assert caught.value.field == "prices.aws.relational.model"


def test_budget_tiers_follow_the_flowchart() -> None:
    assert budget_tier(Decimal(999)) == "basic"
    assert budget_tier(Decimal(1000)) == "standard"
    assert budget_tier(Decimal(5000)) == "standard"
    assert budget_tier(Decimal(5001)) == "enterprise"
    assert budget_tier(None) == "standard"


def test_budget_shapes_configuration(examples_dir: Path) -> None:
    text = (examples_dir / "uber-eats.yaml").read_text()
    cheap = design(load_spec(text.replace("budget_usd_per_month: 60000", "budget_usd_per_month: 800")))
    rich = design(load_spec(text))
    assert cheap.budget_tier == "basic"
    cheap_config = context(cheap, "payments").technologies[0].cost.aws.configuration
    rich_config = context(rich, "payments").technologies[0].cost.aws.configuration
    assert "db.t4g.large" in cheap_config and "db.r6g.2xlarge" in rich_config
    assert any("exceeds the budget" in warning for warning in cheap.warnings)


def test_units() -> None:
    assert parse_volume_gb("2TB") == Decimal(2000)
    assert parse_volume_gb("1.5 PB") == Decimal(1500000)
    assert parse_volume_gb(12) == Decimal(12)
    assert parse_fraction("50%") == Decimal("0.5")
    assert frequency_of_rate(Decimal(50000)) == "very-high"
    assert frequency_of_rate(Decimal(3)) == "low"


def test_lifecycle_volumes_cover_the_whole_volume() -> None:
    policy = time_series_policy(Decimal(7))
    sizes = tier_volumes(policy, Decimal(2_000_000), Decimal("0.3"), Decimal(7))
    assert sum(sizes.values()) == Decimal(2_000_000)
    assert sizes["hot"] < sizes["warm"] < sizes["cold"] < sizes["frozen"]
    short = general_policy("RDS", Decimal("0.2"))
    assert [t.name for t in short.tiers] == ["hot", "warm"]
    assert short.expire_after_days == 73


def test_ten_contexts_use_every_strategy(ten_contexts: DesignReport) -> None:
    used = {s for ctx in ten_contexts.contexts for s in strategies(ten_contexts, ctx.name)}
    assert used >= {
        "master-data",
        "event-sourcing",
        "cqrs",
        "multi-tenancy",
        "sharding",
        "tiering",
        "database-per-service",
        "graph",
        "crud-cache",
        "read-replicas",
    }
    assert families(ten_contexts, "orders")[0] == "wide-column"
    assert families(ten_contexts, "reporting")[0] == "columnar"
    assert context(ten_contexts, "orders").selection.saga_partners == ("inventory", "payments")


def test_missing_steps_are_warnings() -> None:
    report = design(
        load_spec("system: S\ncontexts:\n  - {name: a, entities: [{name: A, kind: master}, {name: B, kind: master}]}\n")
    )
    text = " ".join(report.warnings)
    assert "step 2 missing" in text and "step 3 missing" in text and "step 4 missing" in text
    assert "no budget_usd_per_month" in text
