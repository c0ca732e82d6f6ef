"""Moving a tenant: the copy rate beside a bare batch-copy loop, and the tenant's write pause during the move.

Two SQLite files (``synchronous=NORMAL``): the source holds tenant ``acme`` with N rows of a state table (about
120 bytes a row) and tenant ``beta`` with 100. Then:

- ``floor``: the bare loop a copy cannot beat — read 500 rows in key order, write them at the target with one
  ``executemany`` per short transaction, nothing else (no journal, no upsert, no verify);
- ``move``: ``Mover.run`` of the whole move — plan, copy (an upsert per batch and the cursor journalled after
  each), catch-up, fence, delta, verify (counts and SHA-256 over both sides), switch and complete (delete at the
  source) — while one writer per tenant writes every 2 ms through ``Runtime.transaction``.

Reported: rows/s and MB/s of the copy step and of the floor and their ratio; the whole move's wall time; each
writer's write latency p50 and max during the move (acme's max is its pause; beta should stay near its p50).

Usage::

    .venv/bin/python benchmarks/tenancy_moves.py            # 100,000 rows
    .venv/bin/python benchmarks/tenancy_moves.py --quick    # 20,000 rows
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from datastrata.core.config import Settings
from datastrata.core.errors import NotFound
from datastrata.core.events import NewEvent
from datastrata.runtime import LocationSpec, Runtime, Scope
from datastrata.runtime.moves import Journal, Mover
from datastrata.runtime.movetables import BATCH, Selection, TablePart, page, tenant_tables
from datastrata.runtime.tenants import TenantPlacement
from datastrata.stores.open import open_database

DDL = (
    "CREATE TABLE IF NOT EXISTS bench_items (tenant_id TEXT NOT NULL, item_id INTEGER NOT NULL, "
    "value INTEGER NOT NULL, note TEXT NOT NULL, PRIMARY KEY (tenant_id, item_id))"
)


class Places:
    """An in-memory directory and placer: where each tenant lives, its state and epoch."""

    ttl = 0.05

    def __init__(self, specs: dict[str, LocationSpec]) -> None:
        self.specs = specs
        self.rows: dict[str, tuple[str, str, int]] = {t: ("main", "active", 1) for t in ("acme", "beta")}

    def multi_tenant(self) -> bool:
        return True

    def placement(self, tenant: str) -> TenantPlacement:
        if tenant not in self.rows:
            raise NotFound(tenant)
        where, state, epoch = self.rows[tenant]
        return TenantPlacement(tenant, "indie", "shared", state, epoch, self.specs[where])

    def tenants(self) -> list[TenantPlacement]:
        return [self.placement(t) for t in sorted(self.rows)]

    def invalidate(self) -> None:
        pass

    def moving(self, subject: str) -> None:
        where, _, epoch = self.rows[subject]
        self.rows[subject] = (where, "moving", epoch)

    def switch(self, subject: str, target: dict[str, Any]) -> int:
        self.rows[subject] = (str(target["location"]), "active", self.rows[subject][2] + 1)
        return self.rows[subject][2]

    def stay(self, subject: str, source: dict[str, Any]) -> int:
        self.rows[subject] = (str(source["location"]), "active", self.rows[subject][2])
        return self.rows[subject][2]


class ByPlaces:
    """Each tenant where the directory says."""

    kind = "by_tenant"

    def __init__(self, places: Places) -> None:
        self.places = places

    def locate(self, scope: Scope) -> LocationSpec:
        try:
            return self.places.placement(scope.tenant).spec or self.places.specs["main"]
        except NotFound:
            return self.places.specs["main"]

    def locations(self, scope: Scope) -> list[LocationSpec]:
        return [self.locate(scope)]

    def all(self) -> list[LocationSpec]:
        return list(self.places.specs.values())


def _fill(url: str, rows: int) -> None:
    db = open_database(url)
    with db.transaction() as tx:
        tx.execute(DDL)
        for tenant, n in (("acme", rows), ("beta", 100)):
            tx.executemany(
                "INSERT INTO bench_items VALUES (?, ?, 0, ?)",
                ((tenant, i, f"item {i:08d} of {tenant} " + "x" * 90) for i in range(n)),
            )
    db.close()


def _floor(source_url: str, target_url: str) -> tuple[float, int, int]:
    source, target = open_database(source_url), open_database(target_url)
    with target.transaction() as tx:
        tx.execute(DDL)
    part = next(p for p in tenant_tables(source) if p.table == "bench_items")
    started, after, rows, nbytes = time.perf_counter(), None, 0, 0
    while True:
        with source.read() as tx:
            got = page(tx, part, Selection.tenant("acme"), after, BATCH)
        if not got:
            break
        with target.transaction() as tx:
            tx.executemany("INSERT INTO bench_items VALUES (?, ?, ?, ?)", got)
        rows += len(got)
        nbytes += sum(len(str(v)) for r in got for v in r)
        after = [got[-1][0], got[-1][1]]
    took = time.perf_counter() - started
    source.close()
    target.close()
    return took, rows, nbytes


def _writer(runtime: Runtime, tenant: str, items: int, stop: threading.Event, latencies: list[float]) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        item = (n * 7919) % items
        started = time.perf_counter()
        with runtime.transaction(Scope("items", str(item), tenant=tenant)) as work:
            work.execute("UPDATE bench_items SET value = value + 1 WHERE tenant_id = ? AND item_id = ?", (tenant, item))
            work.append([NewEvent("ItemBumped", {"item": item})])
        latencies.append(time.perf_counter() - started)
        time.sleep(0.002)


def _move(folder: Path, rows: int) -> dict[str, Any]:
    source_url = f"sqlite:///{folder / 'source.db'}?synchronous=NORMAL"
    target_url = f"sqlite:///{folder / 'target.db'}?synchronous=NORMAL"
    _fill(source_url, rows)
    specs = {
        "main": LocationSpec("main", source_url, f"ladybug:///{folder}/g1", ""),
        "own": LocationSpec("own", target_url, f"ladybug:///{folder}/g2", ""),
    }
    places = Places(specs)
    runtime = Runtime.open(Settings(store=source_url, graph=specs["main"].graph), placement=ByPlaces(places))
    runtime.tenants = places
    target = runtime.location(specs["own"])
    with target.db.transaction() as tx:
        tx.execute(DDL)
    stop = threading.Event()
    latencies: dict[str, list[float]] = {"acme": [], "beta": []}
    writers = [
        threading.Thread(target=_writer, args=(runtime, t, n, stop, latencies[t]), daemon=True)
        for t, n in (("acme", rows), ("beta", 100))
    ]
    for w in writers:
        w.start()
    time.sleep(0.3)
    parts = [
        TablePart(p.table, p.columns, p.key, rows_of_stream=lambda s: ("item_id = ?", (int(s.split("-")[1]),)))
        for p in tenant_tables(runtime.db)
        if p.table == "bench_items"
    ]
    journal = Journal(runtime.db)
    move = journal.create("tenant", "acme", {"model": "shared", "location": "main"}, {"location": "own"})
    started = time.perf_counter()
    idle = {t: len(v) for t, v in latencies.items()}
    done = Mover(journal, move, runtime.home, target, parts, places).run()
    wall = time.perf_counter() - started
    time.sleep(0.2)
    stop.set()
    for w in writers:
        w.join(10)
    runtime.close()
    if done.state != "completed":
        raise SystemExit(f"the move did not complete: {done.error}")
    seconds = done.timings["seconds"]
    during = {t: v[idle[t] :] for t, v in latencies.items()}
    return {
        "copy_seconds": seconds["copy"],
        "copied_rows": done.cursors["copied"],
        "copied_bytes": done.cursors["bytes"],
        "wall_seconds": round(wall, 3),
        "steps_seconds": seconds,
        "latency_ms": {
            t: {"p50": round(statistics.median(v) * 1000, 2), "max": round(max(v) * 1000, 1), "writes": len(v)}
            for t, v in during.items()
        },
    }


def run(quick: bool) -> dict[str, object]:
    """Measure one move and the floor copy; return the figures."""
    rows = 20_000 if quick else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "floor").mkdir()
        _fill(f"sqlite:///{folder / 'floor' / 'source.db'}?synchronous=NORMAL", rows)
        took, n, nbytes = _floor(
            f"sqlite:///{folder / 'floor' / 'source.db'}?synchronous=NORMAL",
            f"sqlite:///{folder / 'floor' / 'target.db'}?synchronous=NORMAL",
        )
        (folder / "move").mkdir()
        moved = _move(folder / "move", rows)
    copy_rate = moved["copied_rows"] / moved["copy_seconds"]
    floor_rate = n / took
    return {
        "rows": rows,
        "copy_rows_per_s": round(copy_rate),
        "copy_mb_per_s": round(moved["copied_bytes"] / moved["copy_seconds"] / 1e6, 2),
        "floor_rows_per_s": round(floor_rate),
        "floor_mb_per_s": round(nbytes / took / 1e6, 2),
        "copy_vs_floor": round(copy_rate / floor_rate, 2),
        "move_wall_seconds": moved["wall_seconds"],
        "steps_seconds": moved["steps_seconds"],
        "write_latency_ms": moved["latency_ms"],
    }


def main() -> None:
    """Run the benchmark and print its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(run(parser.parse_args().quick), indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
