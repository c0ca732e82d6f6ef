"""One query over all tiers against the same query on all-hot data: a 30-day range, identical answers required.

Readings (sensor, ts, value) of 30 days fill two identical SQLite tables; the mover sends every day older than 3
days of one of them to zstd Parquet (the fab's hot/warm window stays in the table). Then each query runs through
``run_query`` on both — over all tiers (table + Parquet, DuckDB) and on the all-hot copy (table only) — in
alternating rounds, and the answers are compared row for row:

- ``minute_one_sensor``: per-minute count/avg/min/max of one sensor for 30 days (the fab's ``--agg 1m`` query);
- ``hour_by_sensor``: per-hour aggregates of every sensor for 30 days;
- ``raw_one_sensor``: every raw reading of one sensor for 30 days.

Reported per query and engine (SQLite; PostgreSQL with fsync on when a server can be started): median seconds
over all tiers and all hot, the ratio (goal at most 2x), whether the answers are identical, and the floor of the
store answering the per-minute query itself in SQL (GROUP BY minute) on the all-hot table.

Usage::

    .venv/bin/python benchmarks/tiering_query.py            # 30 days x 20 sensors x 1 reading/min (864,000 rows)
    .venv/bin/python benchmarks/tiering_query.py --quick    # 30 days x 4 sensors x 1 reading/5 min (34,560 rows)
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from datastrata.core.clock import FrozenClock
from datastrata.stores.database import Database, time_to_db
from datastrata.stores.open import open_database
from datastrata.testing.servers import ServerUnavailable, create_database, ephemeral_postgres, migrated
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.plan import plan
from datastrata.tiering.policy import parse_policy
from datastrata.tiering.query import Aggregation, RangeQuery, run_query

NOW = datetime(2026, 12, 1, tzinfo=UTC)
DAYS = 30


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


def _policy(table: str, after: str) -> dict[str, Any]:
    return {
        "name": table,
        "datasets": {
            table: {"kind": "rows", "table": table, "time_column": "ts", "rules": [{"after": after, "to": "cold"}]}
        },
    }


def fill(db: Database, sensors: int, step: timedelta) -> int:
    """Create the two readings tables with `DAYS` days of `sensors` series every `step`; return rows per table."""
    rng = random.Random(13)
    kind = "TEXT" if db.dialect == "sqlite" else "TIMESTAMPTZ"
    with db.transaction() as tx:
        for table in ("tiered", "allhot"):
            tx.run_script(f"CREATE TABLE {table} (sensor TEXT NOT NULL, ts {kind} NOT NULL, value DOUBLE PRECISION)")
    at, total = NOW - timedelta(days=DAYS), 0
    while at < NOW:
        batch = []
        for _ in range(5000):
            if at >= NOW:
                break
            stamp = time_to_db(db.dialect, at)
            batch += [(f"s{s:03d}", stamp, round(rng.gauss(50, 10), 4)) for s in range(sensors)]
            at += step
        with db.transaction() as tx:
            for table in ("tiered", "allhot"):
                tx.executemany(f"INSERT INTO {table} (sensor, ts, value) VALUES (?, ?, ?)", batch)
        total += len(batch)
    return total


def _timed(mover: Mover, q: RangeQuery) -> tuple[float, Any]:
    began = time.perf_counter()
    result = run_query(mover, q)
    return time.perf_counter() - began, result


def _sql_floor(db: Database) -> float:
    """The store answering the per-minute query of one sensor itself, in SQL, on the all-hot table."""
    start, end = time_to_db(db.dialect, NOW - timedelta(days=DAYS)), time_to_db(db.dialect, NOW)
    minute = "substr(ts, 1, 16)" if db.dialect == "sqlite" else "date_trunc('minute', ts)"
    began = time.perf_counter()
    with db.read() as tx:
        tx.query(
            f"SELECT {minute}, count(value), avg(value), min(value), max(value) FROM allhot "
            "WHERE ts >= ? AND ts < ? AND sensor = ? GROUP BY 1 ORDER BY 1",
            (start, end, "s001"),
        )
    return time.perf_counter() - began


def measure(db: Database, root: Path, quick: bool) -> dict[str, object]:
    """Fill, move, then time each query over all tiers and all hot in alternating rounds; compare the answers."""
    sensors, step, rounds = (4, timedelta(minutes=5), 3) if quick else (20, timedelta(minutes=1), 5)
    log(f"{db.dialect}: filling {DAYS} days x {sensors} sensors every {step} …")
    rows = fill(db, sensors, step)
    clock = FrozenClock(NOW)
    objects = ObjectStore(f"file://{root / 'objects'}", clock=clock)
    tiered = Mover(db, objects, parse_policy(_policy("tiered", "3d")), clock=clock)
    hot = Mover(db, objects, parse_policy(_policy("allhot", "7y")), clock=clock)
    log(f"{db.dialect}: moving days older than 3 days to Parquet …")
    moved = tiered.run(plan(tiered.policy, tiered.inventory(), NOW))
    with db.read() as tx:
        left = int(tx.scalar("SELECT count(*) FROM tiered"))
    start = NOW - timedelta(days=DAYS)
    queries = {
        "minute_one_sensor": ({"sensor": "s001"}, Aggregation(timedelta(minutes=1), "value")),
        "hour_by_sensor": ({}, Aggregation(timedelta(hours=1), "value", ("sensor",))),
        "raw_one_sensor": ({"sensor": "s001"}, None),
    }
    results: dict[str, Any] = {}
    for name, (series, aggregate) in queries.items():
        over, flat, same, answered = [], [], True, 0
        for _ in range(rounds):
            t1, got = _timed(tiered, RangeQuery("tiered", start, NOW, series, aggregate))
            t2, want = _timed(hot, RangeQuery("allhot", start, NOW, series, aggregate))
            over.append(t1)
            flat.append(t2)
            same = same and got.to_pylist() == want.to_pylist()
            answered = got.num_rows
        tiers, allhot = statistics.median(over), statistics.median(flat)
        results[name] = {
            "rows_answered": answered,
            "all_tiers_s": round(tiers, 4),
            "all_hot_s": round(allhot, 4),
            "ratio_all_tiers_to_all_hot": round(tiers / allhot, 3),
            "goal_ratio_at_most": 2.0,
            "met": tiers / allhot <= 2.0,
            "identical": same,
        }
        log(f"{db.dialect} {name}: all tiers {tiers:.3f}s, all hot {allhot:.3f}s, identical {same}")
    floor = statistics.median(_sql_floor(db) for _ in range(rounds))
    minute = results["minute_one_sensor"]
    minute["sql_floor_s"] = round(floor, 4)
    minute["ratio_all_tiers_to_sql_floor"] = round(minute["all_tiers_s"] / floor, 3)
    return {
        "rows_per_table": rows,
        "days": DAYS,
        "sensors": sensors,
        "days_in_parquet": len(moved),
        "rows_left_in_table": left,
        "rounds": rounds,
        "queries": results,
    }


def run(quick: bool) -> dict[str, object]:
    """The figures on SQLite, and on PostgreSQL (fsync on) when a server can be started."""
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="tiering-query-") as folder:
        root = Path(folder)
        db = open_database(f"sqlite:///{root / 'bench.db'}?synchronous=NORMAL")
        try:
            out["sqlite"] = measure(db, root / "sqlite", quick)
        finally:
            db.close()
        try:
            with ephemeral_postgres(fsync=True) as base:
                pg = open_database(migrated(create_database(base, "tiering_query")))
                try:
                    out["postgresql"] = measure(pg, root / "postgresql", quick)
                finally:
                    pg.close()
        except ServerUnavailable as exc:
            out["postgresql"] = {"skipped": str(exc)}
    return out


def main() -> None:
    """Run and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller sample (about 15 s)")
    args = parser.parse_args()
    print(json.dumps({"benchmark": "tiering_query", "quick": args.quick, **run(args.quick)}, indent=2))


if __name__ == "__main__":
    main()
