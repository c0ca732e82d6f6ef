"""A rows dataset with a warm table: hot → warm by the hour in one transaction of the same store, then cold."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.errors import ValidationError
from datastrata.stores.database import Database, time_from_db
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.plan import Plan, plan
from datastrata.tiering.policy import parse_policy
from datastrata.tiering.tiers import Tier
from tests.tiering.rowdata import NOW, POLICY, create_readings


def warm_policy() -> dict[str, Any]:
    policy = copy.deepcopy(POLICY)
    readings = policy["datasets"]["readings"]
    readings["warm_table"] = "readings_warm"
    readings["rules"] = [{"after": "1h", "to": "warm"}, *readings["rules"]]
    return policy


def rows(mover: Mover) -> list[tuple[object, ...]]:
    table = mover.read_range("readings", NOW - timedelta(days=30), NOW + timedelta(days=1))
    return sorted(zip(*(table.column(n).to_pylist() for n in ("sensor", "ts", "value")), strict=True))


def warm_mover(db: Database, tmp_path: Path) -> Mover:
    """Readings over 5 days and an empty warm table beside them."""
    time_type = "TEXT" if db.dialect == "sqlite" else "TIMESTAMPTZ"
    with db.transaction() as tx:
        tx.run_script(f"CREATE TABLE readings_warm (sensor TEXT, ts {time_type}, value DOUBLE PRECISION)")
    clock = FrozenClock(NOW)
    return Mover(db, ObjectStore(f"file://{tmp_path}/objects", clock=clock), parse_policy(warm_policy()), clock=clock)


def test_hot_rows_move_to_the_warm_table_by_the_hour_then_to_cold(db: Database, tmp_path: Path) -> None:
    total = create_readings(db, days=5, per_day=48)
    mover = warm_mover(db, tmp_path)
    before = rows(mover)
    first = plan(mover.policy, mover.inventory(), NOW)
    assert {m.item.tier for m in first.moves} == {Tier.HOT} and {m.to for m in first.moves} == {Tier.WARM}
    assert all("T" in m.item.key for m in first.moves)  # hours, not days
    assert any("via its warm table first" in m.reason for m in first.moves)  # old hours go to warm on their way
    records = mover.run(first)
    assert records and all(r.location == "table:readings_warm" and r.to_tier == "warm" for r in records)
    assert sum(r.rows for r in records) == sum(m.item.rows for m in first.moves) and rows(mover) == before
    with db.read() as tx:
        hot = [time_from_db(t) for (t,) in tx.query("SELECT ts FROM readings")]
    assert hot and min(hot) >= NOW - timedelta(hours=2)  # hot keeps the last hour (and the one running)
    second = plan(mover.policy, mover.inventory(), NOW)
    assert {(m.item.tier, m.to) for m in second.moves} == {(Tier.WARM, Tier.COLD)}  # whole days older than 3d
    mover.run(second)
    assert rows(mover) == before and len(before) == total
    assert not plan(mover.policy, mover.inventory(), NOW).moves


def test_a_warm_day_waits_for_its_hot_hours(db: Database, tmp_path: Path) -> None:
    create_readings(db, days=5, per_day=48)
    mover = warm_mover(db, tmp_path)
    hours = plan(mover.policy, mover.inventory(), NOW).moves
    mover.run(Plan("test", NOW, hours[:1], (), 0))  # only the oldest hour moves
    later = plan(mover.policy, mover.inventory(), NOW)
    assert [h.item.key for h in later.held] == [hours[0].item.key[:10]]
    assert "still hot" in later.held[0].reason


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"warm_table": "readings"}, "name a table other than 'readings'"),
        ({"warm_table": "Bad Name"}, r"datasets\.readings\.warm_table must be a SQL name"),
        ({"warm_table": "w", "online": "warm"}, "keep online: hot"),
    ],
)
def test_bad_warm_tables_are_refused(change: dict[str, str], message: str) -> None:
    policy = warm_policy()
    policy["datasets"]["readings"].update(change)
    with pytest.raises(ValidationError, match=message):
        parse_policy(policy)


def test_rows_go_warm_only_with_a_warm_table() -> None:
    policy = warm_policy()
    del policy["datasets"]["readings"]["warm_table"]
    with pytest.raises(ValidationError, match="declare warm_table"):
        parse_policy(policy)
