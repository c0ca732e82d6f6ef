"""Policies as data: validated with errors naming the field and the fix; unsafe ones refused; plans pure."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datastrata.core.errors import ValidationError
from datastrata.tiering.plan import Item, plan
from datastrata.tiering.policy import parse_policy
from datastrata.tiering.tiers import Tier

NOW = datetime(2026, 12, 1, tzinfo=UTC)
FAB: dict[str, Any] = {
    "name": "fab",
    "datasets": {
        "readings": {
            "kind": "rows",
            "table": "readings",
            "time_column": "ts",
            "rules": [{"after": "3d", "to": "cold"}, {"after": "30d", "to": "expired"}],
        },
        "readings_1m": {
            "kind": "rows",
            "table": "readings_1m",
            "time_column": "minute",
            "online": "warm",
            "aggregates": "readings",
            "ready_after": "1h",
            "rules": [{"after": "2y", "to": "expired"}],
        },
        "models": {
            "kind": "objects",
            "prefix": "models/",
            "rules": [{"after": "365d", "to": "frozen", "stage": ["unapproved"]}, {"after": "7y", "to": "expired"}],
        },
    },
    "queries": [
        {"name": "raw readings by sensor", "dataset": "readings", "covers": "30d"},
        {"name": "1-minute aggregates", "dataset": "readings_1m", "covers": "2y"},
    ],
}


def changed(path: str, value: object) -> dict[str, Any]:
    data = copy.deepcopy(FAB)
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is None:
        del node[int(last) if last.isdigit() else last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return data


def test_the_fab_policy_parses() -> None:
    policy = parse_policy(FAB)
    assert policy.datasets["readings"].rules[1].after == timedelta(days=30)
    assert policy.datasets["models"].rules[0].stages == frozenset({"unapproved"})
    assert policy.storage_class(Tier.FROZEN) == "GLACIER"


@pytest.mark.parametrize(
    ("path", "value", "field", "says"),
    [
        ("datasets.readings.kind", "files", "datasets.readings.kind", "rows, objects"),
        ("datasets.readings.rules.0.after", "3 days", "datasets.readings.rules[0].after", "such as 90m"),
        ("datasets.readings.rules.0.to", "lukewarm", "datasets.readings.rules[0].to", "hot, warm, cold"),
        ("datasets.readings.rules.0.to", "warm", "datasets.readings.rules[0].to", "online: warm"),
        ("datasets.readings.table", "Readings; drop", "datasets.readings.table", "SQL name"),
        ("datasets.models.prefix", "/abs", "datasets.models.prefix", "ending in '/'"),
        ("datasets.models.colour", "red", "datasets.models.colour", "unknown field"),
        ("queries.0.dataset", "nothing", "queries[0].dataset", "must name a dataset"),
        ("classes", {"frozen": "STANDARD"}, "classes.frozen", "archive class"),
        ("datasets.readings_1m.aggregates", "missing", "datasets.readings_1m.aggregates", "another rows dataset"),
    ],
)
def test_bad_fields_are_named_with_the_fix(path: str, value: object, field: str, says: str) -> None:
    with pytest.raises(ValidationError, match=says) as caught:
        parse_policy(changed(path, value))
    assert caught.value.field == field


def test_rules_only_move_data_colder() -> None:
    rules = [{"after": "3d", "to": "frozen"}, {"after": "30d", "to": "cold"}]
    with pytest.raises(ValidationError, match="only moves colder") as caught:
        parse_policy(changed("datasets.readings.rules", rules))
    assert caught.value.field == "datasets.readings.rules[1].to"


def test_expiring_data_a_declared_query_needs_is_refused() -> None:
    with pytest.raises(ValidationError, match="must keep answering 30d") as caught:
        parse_policy(changed("datasets.readings.rules.1.after", "7d"))
    assert caught.value.field == "datasets.readings.rules[1].after"


def test_freezing_data_a_declared_query_needs_is_refused() -> None:
    with pytest.raises(ValidationError, match="restore is needed"):
        parse_policy(changed("datasets.readings_1m.rules", [{"after": "1y", "to": "frozen"}]))


def test_a_stage_rule_conflicts_only_with_queries_of_that_stage() -> None:
    data = changed("queries", [{"name": "approved models", "dataset": "models", "covers": "3y", "stage": "approved"}])
    parse_policy(data)  # unapproved models freeze after a year: the query reads approved ones only
    data["queries"][0]["stage"] = ["approved", "unapproved"]
    with pytest.raises(ValidationError, match="approved models"):
        parse_policy(data)


def test_deleting_raw_rows_before_their_aggregate_exists_is_refused() -> None:
    data = changed("datasets.readings_1m.ready_after", "2d")
    data["datasets"]["readings"]["rules"] = [{"after": "1d", "to": "expired"}]
    data["queries"] = []
    with pytest.raises(ValidationError, match="before the aggregate 'readings_1m' replacing it exists"):
        parse_policy(data)


def day(dataset: str, date: str, tier: Tier = Tier.HOT) -> Item:
    start = datetime.fromisoformat(date).replace(tzinfo=UTC)
    return Item(dataset, date, tier, start + timedelta(days=1), rows=10, bytes=100)


def test_plan_moves_by_age_and_stage_and_says_why() -> None:
    policy = parse_policy(FAB)
    old_model = Item("models", "models/m1.bin", Tier.HOT, NOW - timedelta(days=400), bytes=5, stage="unapproved")
    champion = Item("models", "models/m2.bin", Tier.HOT, NOW - timedelta(days=400), bytes=5, stage="approved")
    inventory = [day("readings", "2026-11-29"), day("readings", "2026-11-20"), old_model, champion]
    result = plan(policy, inventory, NOW)
    moved = {(m.item.key, m.to) for m in result.moves}
    assert moved == {("2026-11-20", Tier.COLD), ("models/m1.bin", Tier.FROZEN)}
    assert result.unchanged == 2
    frozen = next(m for m in result.moves if m.to is Tier.FROZEN)
    assert "stage unapproved" in frozen.reason and frozen.rule.describe().startswith("rules[0]: after 1y")
    assert plan(policy, inventory, NOW) == result  # pure: same input, same plan


def test_raw_rows_are_held_until_their_aggregate_exists() -> None:
    policy = parse_policy(FAB)
    old = day("readings", "2026-10-01", Tier.COLD)
    result = plan(policy, [old], NOW)
    assert not result.moves and "has no data for 2026-10-01" in result.held[0].reason
    with_aggregate = plan(policy, [old, day("readings_1m", "2026-10-01", Tier.WARM)], NOW)
    assert [(m.item.key, m.to) for m in with_aggregate.moves] == [("2026-10-01", Tier.EXPIRED)]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["readings", "readings_1m", "models"]),
            st.integers(0, 3000),
            st.sampled_from([Tier.HOT, Tier.WARM, Tier.COLD, Tier.FROZEN]),
            st.sampled_from([None, "approved", "unapproved"]),
        ),
        max_size=30,
    )
)
def test_a_plan_only_moves_colder_by_a_rule_that_applies(raw: list[tuple[str, int, Tier, str | None]]) -> None:
    policy = parse_policy(FAB)
    items = [
        Item(ds, f"k{i}", tier, NOW - timedelta(hours=age * 12), stage=stage)
        for i, (ds, age, tier, stage) in enumerate(raw)
    ]
    result = plan(policy, items, NOW)
    assert len(result.moves) + len(result.held) + result.unchanged == len(items)
    for move in result.moves:
        assert move.to.rank > move.item.tier.rank
        assert NOW - move.item.newest >= move.rule.after and move.rule.matches(move.item.stage)
        assert move.rule in policy.datasets[move.item.dataset].rules
    for held in result.held:
        assert held.to is Tier.EXPIRED and held.item.dataset == "readings"
