"""Online resharding 2 → 3 shards with a writer going on: the copy rate beside a bare copy loop, the write pause.

Two SQLite shards (``synchronous=NORMAL``; ``--pg``: PostgreSQL databases on a server started here, ``fsync=off``)
hold N ledger rows (about 60 bytes a row, bulk-inserted, each with ``shard_key`` and ``shard_slot``, indexed on
``shard_slot`` as the sharding convention asks) and N/10 past events spread over the keys (``--events``), under a
jump router over slots; ``plan_add`` plans a third shard (a third of the slots move, one range move per source) and
``run_reshard`` runs it while one writer credits keys every 2 ms (a row and an event per write, half the keys in
moving ranges). Then:

- ``floor``: the bare loop a copy cannot beat — read 500 rows of the moving range in key order, write them at an
  empty shard with one ``executemany`` per short transaction (no journal, no upsert, no verify);
- ``reshard``: the whole plan — copy, events, catch-up, fence (that range only), delta, verify, switch, cleanup.

Reported: rows/s of the copy steps and of the floor and their ratio; total time; each move's fence-to-switch time
(``write pause``, goal ≤ 1 s) and seconds per step; the writer's latency p50 and max for keys in moving ranges
(their max is the pause the writer saw) and for the others (they should stay near p50). ``--profile FILE`` writes a
pyinstrument profile of the fenced windows.

Usage::

    .venv/bin/python benchmarks/reshard.py            # 1,000,000 rows
    .venv/bin/python benchmarks/reshard.py --quick    # 50,000 rows
    .venv/bin/python benchmarks/reshard.py --pg       # the same on PostgreSQL
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from datastrata.core.config import Settings
from datastrata.core.events import NewEvent
from datastrata.core.tenancy import platform
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.movetables import BATCH, Selection, page, shard_tables
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.sharding import JumpRouter, ShardMap
from datastrata.sharding.maps import ShardMaps
from datastrata.sharding.placement import ByShard, StoredMap, route_key
from datastrata.sharding.reshard import plan_add, run_reshard
from datastrata.sharding.slots import slot_of
from datastrata.stores.database import Dialect
from datastrata.stores.open import open_database

MAP, CONTEXT = "accounts", "ledger"


def _ddl(dialect: Dialect) -> str:
    return (
        "CREATE TABLE IF NOT EXISTS ledger_accounts (tenant_id TEXT NOT NULL, account TEXT NOT NULL, "
        "shard_key TEXT NOT NULL, shard_slot INTEGER NOT NULL, balance BIGINT NOT NULL, writes BIGINT NOT NULL, "
        "PRIMARY KEY (tenant_id, account)); "
        "CREATE INDEX IF NOT EXISTS ledger_accounts_slot ON ledger_accounts (shard_slot)"
    )


def _url(path: Path) -> str:
    return f"sqlite:///{path}?synchronous=NORMAL"


@contextlib.contextmanager
def _stores(pg: bool) -> Iterator[dict[str, str]]:
    """The URLs of home, s0-s2 and the floor's store: SQLite files, or databases on a PostgreSQL server started here
    (``fsync=off``, like the SQLite files' ``synchronous=NORMAL`` a durability setting the two sides share)."""
    names = ("home", "s0", "s1", "s2", "floor")
    if not pg:
        with tempfile.TemporaryDirectory() as tmp:
            yield {name: _url(Path(tmp) / f"{name}.db") for name in names}
        return
    from datastrata.testing.servers import create_database, ephemeral_postgres, migrated

    with ephemeral_postgres(fsync=False) as base:
        template = migrated(create_database(base, "reshard_template")).rsplit("/", 1)[-1]
        yield {name: create_database(base, f"reshard_{name}", template=template) for name in names}


def _open(urls: dict[str, str]) -> Runtime:
    home = urls["home"]
    shards = {f"s{i}": LocationSpec(f"s{i}", urls[f"s{i}"], "", "") for i in range(3)}
    placement = ByShard(
        StoredMap(ShardMaps(open_database(home)), MAP, ttl=0.5),
        shards,
        LocationSpec("main", home, "", ""),
        contexts=[CONTEXT],
    )
    runtime = Runtime.open(Settings(store=home), placement=placement)
    for spec in shards.values():
        runtime.location(spec).db.ensure_schema("bench.ledger", _ddl)
    return runtime


def _fill(runtime: Runtime, rows: int) -> None:
    placement = runtime.placement
    assert isinstance(placement, ByShard)
    chunk = 50_000
    for start in range(0, rows, chunk):
        by: dict[str, list[tuple[str, str, int]]] = {}
        for i in range(start, min(rows, start + chunk)):
            key = f"acct-{i:08d}"
            by.setdefault(placement.route(key).shard, []).append((key, key, slot_of(key)))
        for shard, got in by.items():
            with platform(), runtime.location(placement.shard(shard)).db.transaction() as tx:
                tx.executemany(
                    "INSERT INTO ledger_accounts (tenant_id, account, shard_key, shard_slot, balance, writes) "
                    "VALUES ('default', ?, ?, ?, 100, 0)",
                    got,
                )


def _history(runtime: Runtime, rows: int, events: int) -> None:
    """Append `events` past credits (one event each, spread over the keys) to the shards' logs, 2,000 a transaction."""
    placement = runtime.placement
    assert isinstance(placement, ByShard)
    step = 7919  # a prime: the events visit keys all over the slots
    for start in range(0, events, 2000):
        by: dict[str, list[str]] = {}
        for i in range(start, min(events, start + 2000)):
            key = f"acct-{(i * step) % rows:08d}"
            by.setdefault(placement.route(key).shard, []).append(key)
        for shard, keys in by.items():
            location = runtime.location(placement.shard(shard))
            with platform(), location.db.transaction() as tx:
                for key in keys:
                    location.log.append_in(tx, f"{CONTEXT}-{key}", [NewEvent("Credited", {"amount": 1})])


def _floor(url: str, runtime: Runtime, selection: Selection) -> tuple[float, int]:
    """Copy the first move's rows with the bare loop into an empty store."""
    source = runtime.location(runtime.placement.shard("s0")).db  # type: ignore[attr-defined]
    target = open_database(url)
    target.ensure_schema("bench.ledger", _ddl)
    part = next(p for p in shard_tables(source) if p.table == "ledger_accounts")
    started, after, rows = time.perf_counter(), None, 0
    while True:
        with platform(), source.read() as tx:
            got = page(tx, part, selection, after, BATCH)
        if not got:
            break
        with platform(), target.transaction() as tx:
            tx.executemany("INSERT INTO ledger_accounts VALUES (?, ?, ?, ?, ?, ?)", got)
        rows += len(got)
        after = [got[-1][0], got[-1][1]]
    target.close()
    return time.perf_counter() - started, rows


def _writer(runtime: Runtime, keys: list[str], stop: threading.Event, seen: list[tuple[str, float]]) -> None:
    n = 0
    while not stop.is_set():
        key = keys[n % len(keys)]
        n += 1
        started = time.perf_counter()
        with runtime.transaction(Scope(CONTEXT, key)) as work:
            work.execute(
                "UPDATE ledger_accounts SET balance = balance + 1, writes = writes + 1 WHERE tenant_id = 'default' "
                "AND account = ?",
                (key,),
            )
            work.append([NewEvent("Credited", {"amount": 1})])
        seen.append((key, time.perf_counter() - started))
        time.sleep(0.002)


def _latency(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "max": 0.0, "writes": 0}
    return {
        "p50": round(statistics.median(values) * 1000, 2),
        "max": round(max(values) * 1000, 1),
        "writes": len(values),
    }


def _profiled(path: str | None) -> tuple[Callable[[int, str], None] | None, Callable[[], None]]:
    """With `path`: an ``on_step`` that profiles each fenced window (delta → switch) and a function writing it."""
    if path is None:
        return None, lambda: None
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)

    def on_step(index: int, step: str) -> None:
        if step == "delta":
            profiler.start()
        elif step == "grace" and profiler.is_running:
            profiler.stop()

    def write() -> None:
        Path(path).write_text(profiler.output_text(unicode=False, color=False))

    return on_step, write


def run(
    quick: bool, events: int | None = None, profile: str | None = None, pg: bool = False, rows: int | None = None
) -> dict[str, Any]:
    """Fill, measure the floor, reshard under the writer; the figures."""
    rows = rows or (50_000 if quick else 1_000_000)
    history = rows // 10 if events is None else events
    with _stores(pg) as urls:
        db = open_database(urls["home"])
        ShardMaps(db).create(MAP, JumpRouter(["s0", "s1"]))
        db.close()
        with _open(urls) as runtime:
            filling = time.perf_counter()
            _fill(runtime, rows)
            _history(runtime, rows, history)
            filled = time.perf_counter() - filling
            plan = plan_add(runtime, MAP, 1)
            first = plan.moves[0]
            floor_seconds, floor_rows = _floor(urls["floor"], runtime, Selection.shard("floor", first.range))
            new = ShardMap(plan.router)
            keys = [f"acct-{i:08d}" for i in range(0, rows, max(1, rows // 2000))]
            moving = {k for k in keys if route_key(new, k).shard == "s2"}
            stop, seen = threading.Event(), []
            writer = threading.Thread(target=_writer, args=(runtime, keys, stop, seen), daemon=True)
            writer.start()
            time.sleep(0.3)
            started = time.perf_counter()
            on_step, write_profile = _profiled(profile)
            status = run_reshard(runtime, plan, grace=0.0, on_step=on_step)
            write_profile()
            total = time.perf_counter() - started
            time.sleep(0.3)
            stop.set()
            writer.join()
            from datastrata.runtime.moves import Journal

            journal = Journal(runtime.platform.db)
            steps = [journal.get(m["move"]).timings["seconds"] for m in status.moves]
            copy_seconds = sum(float(s.get("copy", 0.0)) for s in steps)
            copied = status.copied
    copy_rate = copied / copy_seconds if copy_seconds else 0.0
    floor_rate = floor_rows / floor_seconds if floor_seconds else 0.0
    return {
        "store": "postgresql" if pg else "sqlite",
        "rows": rows,
        "events": history,
        "fill_seconds": round(filled, 1),
        "moved_rows": plan.rows,
        "moved_events": sum(m.events for m in plan.moves),
        "moves": len(plan.moves),
        "state": status.state,
        "total_seconds": round(total, 2),
        "copy_rows_per_second": round(copy_rate),
        "floor_rows_per_second": round(floor_rate),
        "copy_over_floor": round(copy_rate / floor_rate, 2) if floor_rate else None,
        "write_pause_seconds_per_move": [m["fenced_seconds"] for m in status.moves],
        "step_seconds_per_move": [{k: round(float(v), 2) for k, v in s.items() if float(v) >= 0.01} for s in steps],
        "writer_moving_keys_ms": _latency([t for k, t in seen if k in moving]),
        "writer_other_keys_ms": _latency([t for k, t in seen if k not in moving]),
    }


def main() -> None:
    """Print the figures as JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="50,000 rows instead of 1,000,000")
    parser.add_argument("--events", type=int, default=None, help="events already in the shards' logs (rows / 10)")
    parser.add_argument("--profile", metavar="FILE", help="write a pyinstrument profile of the fenced windows here")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL shards (databases on a server started here)")
    parser.add_argument("--rows", type=int, default=None, help="rows instead of 1,000,000 (or --quick's 50,000)")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.events, args.profile, args.pg, args.rows), indent=2))


if __name__ == "__main__":
    main()
