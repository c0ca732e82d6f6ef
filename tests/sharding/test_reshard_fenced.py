"""What a shard move reads while its range is fenced: only what arrived since the precheck, through the indexes.

Under the fence the verify counts and hashes only the events after the positions the precheck matched at, so an
event appearing at either end after them still fails the verify; a scan in key order keeps to the table's key
(SQLite would otherwise answer through the slot index and sort the whole range per page); the rows of changed
streams are found through the slot index.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from datastrata.core.errors import RuleViolation
from datastrata.core.events import NewEvent
from datastrata.core.tenancy import platform
from datastrata.runtime import fences, shardfences
from datastrata.runtime.moves import Journal, rows_of
from datastrata.runtime.movetables import Selection, page, shard_tables
from datastrata.runtime.slotrange import SlotRange
from datastrata.sharding.placement import ByShard
from datastrata.sharding.reshard import plan_add, reshard_status, run_reshard
from datastrata.sharding.slots import slot_of
from datastrata.stores.open import open_database
from tests.sharding.resharding import (
    CONTEXT,
    MAP,
    assert_each_once,
    credit,
    default_router,
    ledger_ddl,
    rows_on,
    seed,
    sqlite_shards,
)

KEYS = [f"acct-{i}" for i in range(400)]


@pytest.mark.parametrize("end", ["target", "source"])
def test_an_event_appearing_under_the_fence_after_the_precheck_fails_the_verify(tmp_path: Path, end: str) -> None:
    shards = sqlite_shards(str(tmp_path), 3)
    shards.create_map(default_router(2))
    with shards.open() as runtime:
        seed(runtime, KEYS)
        for key in KEYS[:80]:
            credit(runtime, key)
        plan = plan_add(runtime, MAP, 1)
        move = plan.moves[0]
        key = next(k for k in KEYS[:80] if move.range.holds(k))
        placement = runtime.placement
        assert isinstance(placement, ByShard)
        where = runtime.location(placement.shard(move.target if end == "target" else move.source))

        def behind_the_moves_back(index: int, step: str) -> None:
            if index == 0 and step == "verify":  # fenced, delta copied: an event nobody's writer made
                with platform(), where.db.transaction() as tx:
                    where.log.append_in(tx, f"{CONTEXT}-{key}", [NewEvent("Credited", {"amount": 1})])

        with pytest.raises(RuleViolation, match=r"move 0 of the reshard failed: verify failed.*events: (\d+) at"):
            run_reshard(runtime, plan, grace=0.0, on_step=behind_the_moves_back)
        status = reshard_status(runtime, MAP)
        assert status is not None and status.epoch == 1 and status.moves[0]["state"] == "failed"
        source = runtime.location(placement.shard(move.source))
        assert shardfences.get(source.db, MAP, key, slot_of(key))[0] == fences.OPEN  # lifted at the source
        credit(runtime, key)  # its writes go on where it was
        assert rows_on(source)[key] == (102, 2)


def test_an_events_count_under_the_fence_reads_only_past_the_precheck(tmp_path: Path) -> None:
    shards = sqlite_shards(str(tmp_path), 3)
    shards.create_map(default_router(2))
    with shards.open() as runtime:
        seed(runtime, KEYS)
        for key in KEYS:
            credit(runtime, key)
        plan = plan_add(runtime, MAP, 1)
        checked: list[dict[str, int]] = []

        def at(index: int, step: str) -> None:
            if step == "delta":
                move = Journal(runtime.platform.db).current("shard", f"{MAP}:{plan.plan_id}:{index}")
                assert move is not None
                checked.append(move.cursors["events_checked"])

        status = run_reshard(runtime, plan, grace=0.0, on_step=at)
        assert status.state == "completed"
        for marks, planned in zip(checked, plan.moves, strict=True):  # matched before the fence: every event so far
            assert marks["events"] == planned.events > 0 and marks["source"] > 0
        assert_each_once(runtime, KEYS, Counter(dict.fromkeys(KEYS, 1)))


def test_a_scan_in_key_order_keeps_to_the_key_and_changed_keys_use_the_slot_index(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/s.db")
    db.ensure_schema("test.ledger", ledger_ddl)
    keys = [f"acct-{i:05d}" for i in range(3000)]
    with platform(), db.transaction() as tx:
        tx.executemany(
            "INSERT INTO ledger_accounts VALUES ('default', ?, ?, ?, 100, 0)", [(k, k, slot_of(k)) for k in keys]
        )
    [part] = shard_tables(db)
    ranges = {
        "betweens": SlotRange(((0, 4000), (9000, 12000))),
        "listed": SlotRange(tuple((s, s) for s in range(0, 16384, 3))),
    }
    for name, slots in ranges.items():
        selection = Selection.shard("s", slots)
        with platform(), db.read() as tx:
            plan = " ".join(
                str(r[3])
                for r in tx.query(
                    f"EXPLAIN QUERY PLAN SELECT * FROM ledger_accounts WHERE {selection.in_key_order('sqlite')} "
                    f"ORDER BY {part.order_sql} LIMIT 500",
                    selection.params,
                )
            )
            assert "TEMP B-TREE" not in plan and "ledger_accounts_slot" not in plan, (name, plan)
            read, after = [], None
            while rows := page(tx, part, selection, after, 500):
                read += [r[1] for r in rows]
                after = [rows[-1][0], rows[-1][1]]
        assert read == [k for k in keys if slots.holds(k)], name  # every row of the range once, in key order
        changed = [f"{CONTEXT}-{k}" for k in read[:150]] + [f"{CONTEXT}-nobody", "no-key-here"]
        found = []
        for where, params in rows_of(part, changed):
            with platform(), db.read() as tx:
                sql = f"SELECT account FROM ledger_accounts WHERE {selection.predicate} AND ({where})"
                found += [str(r[0]) for r in tx.query(sql, (*selection.params, *params))]
                plan = " ".join(str(r[3]) for r in tx.query(f"EXPLAIN QUERY PLAN {sql}", (*selection.params, *params)))
                assert "ledger_accounts_slot" in plan, plan
        assert sorted(found) == sorted(read[:150])
    db.close()
