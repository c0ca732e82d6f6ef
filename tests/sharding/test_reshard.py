"""Online resharding over SQLite shards: plans, a reshard under a concurrent writer, stale epochs, reverse."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from datastrata.core.errors import RuleViolation, ValidationError
from datastrata.runtime.moves import Journal
from datastrata.sharding.placement import ByShard, StoredMap, route_key
from datastrata.sharding.reshard import (
    ReshardPlan,
    plan_add,
    plan_pin,
    plan_remove,
    plan_split,
    reshard_status,
    reverse_reshard,
    run_reshard,
)
from datastrata.sharding.slotmaps import assignment, same_routes
from datastrata.sharding.slots import slot_of
from tests.sharding.resharding import (
    MAP,
    Writer,
    assert_each_once,
    credit,
    default_router,
    rows_on,
    seed,
    sqlite_shards,
)

KEYS = [f"acct-{i}" for i in range(600)]
FULL = os.environ.get("DATASTRATA_FULL") == "1"


class Stop(Exception):
    """Stops a reshard at a chosen step (as an operator's Ctrl-C would)."""


def _placement(runtime: object) -> ByShard:
    placement = runtime.placement  # type: ignore[attr-defined]
    assert isinstance(placement, ByShard)
    return placement


def test_a_plan_counts_what_moves_and_writes_nothing(tmp_path: Path) -> None:
    shards = sqlite_shards(str(tmp_path), 3)
    shards.create_map(default_router(2))
    with shards.open() as runtime:
        seed(runtime, KEYS)
        credited = KEYS[:40]
        for key in credited:
            credit(runtime, key)
        plan = plan_add(runtime, MAP, 1)
        source = _placement(runtime).source
        assert isinstance(source, StoredMap)
        old = source.maps.current(MAP)
        assert old.epoch == 1 and plan.base_epoch == 1
        moved: Counter[tuple[str, str]] = Counter()
        events: Counter[tuple[str, str]] = Counter()
        for key in KEYS:
            was, now = route_key(old, key).shard, route_key(old.successor(plan.router), key).shard
            if was != now:
                moved[(was, now)] += 1
                events[(was, now)] += key in credited
        assert set(moved) == {("s0", "s2"), ("s1", "s2")}  # jump: only the new shard receives
        for move in plan.moves:
            pair = (move.source, move.target)
            assert move.tables == {"ledger_accounts": moved[pair]} and move.events == events[pair]
            assert move.nbytes > 0 and move.seconds > 0
            changed = {
                s
                for s, (a, b) in enumerate(zip(assignment(old.router), assignment(plan.router), strict=True))
                if a != b
            }
            assert {s for lo, hi in move.range.runs for s in range(lo, hi + 1)} <= changed
        again = ReshardPlan.from_dict(plan.to_dict())
        assert again.to_dict() == plan.to_dict() and plan.to_dict()["rows"] == sum(moved.values())
        assert source.maps.current(MAP).epoch == 1  # a dry run: no epoch, no journal, no plan recorded
        assert Journal(runtime.platform.db).of("shard", f"{MAP}:{plan.plan_id}:0") == []
        assert reshard_status(runtime, MAP) is None


def test_bad_plans_are_refused_naming_the_field(tmp_path: Path) -> None:
    shards = sqlite_shards(str(tmp_path), 2)
    shards.create_map(default_router(2))
    with shards.open() as runtime:
        with pytest.raises(ValidationError) as caught:
            plan_add(runtime, MAP, 1)  # no free shard location
        assert caught.value.field == "count"
        with pytest.raises(ValidationError) as caught:
            plan_add(runtime, MAP, 0)
        assert caught.value.field == "count"
        with pytest.raises(ValidationError) as caught:
            plan_remove(runtime, MAP, "s7")
        assert caught.value.field == "shard"
        with pytest.raises(ValidationError) as caught:
            plan_split(runtime, "nosuchmap", "s0")
        assert caught.value.field == "map"
        with pytest.raises(ValidationError) as caught:
            plan_pin(runtime, MAP, "k", "s9")
        assert caught.value.field == "shard"


def test_adding_a_shard_under_a_concurrent_writer_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    shards = sqlite_shards(str(tmp_path), 3)
    shards.create_map(default_router(2))
    with shards.open() as runtime:
        seed(runtime, KEYS)
        plan = plan_add(runtime, MAP, 1)
        early = plan_remove(runtime, MAP, "s1")
        writer = Writer(runtime, KEYS[::3]).start()
        seen: list[str] = []
        status = run_reshard(runtime, plan, grace=0.0, on_progress=lambda s: seen.append(s.state))
        acked = writer.stop()
        assert not writer.errors, writer.errors
        assert sum(acked.values()) > 0 and "running" in seen
        assert status.state == "completed" and status.epoch == 1 + len(plan.moves)
        assert all(m["fenced_seconds"] is not None for m in status.moves)
        source = _placement(runtime).source
        assert isinstance(source, StoredMap) and same_routes(source.maps.current(MAP).router, plan.router)
        assert_each_once(runtime, KEYS, acked)
        again = run_reshard(runtime, plan, grace=0.0)  # a finished plan run again: nothing more happens
        assert again.state == "completed" and again.epoch == status.epoch
        with pytest.raises(RuleViolation, match="epoch"):
            run_reshard(runtime, early, grace=0.0)  # planned before the switches: plan again


def test_a_writer_with_a_stale_epoch_is_refused_and_retried_on_the_new_shard(tmp_path: Path) -> None:
    shards = sqlite_shards(str(tmp_path), 3)
    shards.create_map(default_router(2))
    with shards.open() as runtime, shards.open(ttl=3600.0) as stale:
        seed(runtime, KEYS)
        plan = plan_add(runtime, MAP, 1)
        moving = next(k for k in KEYS if route_key(_source(stale).current(), k).shard != _route(plan, k))
        assert _source(stale).current().epoch == 1  # cached for an hour
        run_reshard(runtime, plan, grace=0.0)
        assert _source(stale).current().epoch == 1  # still cached: its next decision is stale
        credit(stale, moving)
        assert _source(stale).current().epoch == 1 + len(plan.moves)  # refused at the old shard, re-read, retried
        target = stale.location(_placement(stale).shard(_route(plan, moving)))
        assert rows_on(target)[moving] == (101, 1)
        acked = Counter({moving: 1})
        assert_each_once(runtime, KEYS, acked)


def test_reverse_before_cleanup_puts_every_range_back(tmp_path: Path) -> None:
    shards = sqlite_shards(str(tmp_path), 3)
    shards.create_map(default_router(2))
    with shards.open() as runtime:
        seed(runtime, KEYS)
        plan = plan_add(runtime, MAP, 1)
        last = len(plan.moves) - 1

        def stop_at_grace(index: int, step: str) -> None:
            if index == last and step == "grace":
                raise Stop  # every move switched, none cleaned up

        writer = Writer(runtime, KEYS[1::3]).start()
        with pytest.raises(Stop):
            run_reshard(runtime, plan, grace=0.0, on_step=stop_at_grace)
        status = reshard_status(runtime, MAP)
        assert status is not None and status.state == "switched"
        reversed_ = reverse_reshard(runtime, MAP)
        acked = writer.stop()
        assert not writer.errors, writer.errors
        assert reversed_.state == "reversed" and reversed_.epoch > status.epoch
        source = _placement(runtime).source
        assert isinstance(source, StoredMap) and same_routes(source.maps.current(MAP).router, plan.previous)
        assert rows_on(runtime.location(_placement(runtime).shard("s2"))) == {}
        assert_each_once(runtime, KEYS, acked)
        with pytest.raises(RuleViolation, match="reversed"):
            run_reshard(runtime, plan, grace=0.0)


def test_pin_split_and_remove_move_only_what_they_name(tmp_path: Path) -> None:
    shards = sqlite_shards(str(tmp_path), 4)
    shards.create_map(default_router(2))
    with shards.open() as runtime:
        keys = KEYS[:300]
        seed(runtime, keys)
        hot = keys[7]
        credit(runtime, hot)
        pin = plan_pin(runtime, MAP, hot, "s3")
        assert [(m.source, m.target, m.range.keys, m.rows) for m in pin.moves] == [
            (_route_old(runtime, hot), "s3", (hot,), 1)
        ]
        run_reshard(runtime, pin, grace=0.0)
        acked = Counter({hot: 1})
        assert_each_once(runtime, keys, acked)
        split = plan_split(runtime, MAP, "s0")
        remove_planned = plan_remove(runtime, MAP, "s3")
        assert {m.source for m in remove_planned.moves} == {"s3"}  # only the removed shard's range and pinned key
        if not FULL:  # the bounded run stops here: the split and the remove run under DATASTRATA_FULL=1
            return
        assert {(m.source, m.target) for m in split.moves} == {("s0", "s2")}
        assert all(
            slot_of(hot) not in range(lo, hi + 1) or hot in m.range.excluded
            for m in split.moves
            for lo, hi in m.range.runs
        )
        run_reshard(runtime, split, grace=0.0)
        assert_each_once(runtime, keys, acked)
        remove = plan_remove(runtime, MAP, "s3")  # the pinned key's shard: it follows its slot again
        assert {m.source for m in remove.moves} == {"s3"}
        run_reshard(runtime, remove, grace=0.0)
        assert rows_on(runtime.location(_placement(runtime).shard("s3"))) == {}
        assert_each_once(runtime, keys, acked)


def _source(runtime: object) -> StoredMap:
    source = _placement(runtime).source
    assert isinstance(source, StoredMap)
    return source


def _route(plan: ReshardPlan, key: str) -> str:
    from datastrata.sharding import ShardMap

    return route_key(ShardMap(plan.router), key).shard


def _route_old(runtime: object, key: str) -> str:
    return route_key(_source(runtime).current(), key).shard
