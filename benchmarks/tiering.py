"""Tiering side by side in one run: moves, the all-tier query, the fab's ingest, the ML training set, segments, Iceberg.

Each part is its own script (``benchmarks/tiering_<part>.py``, runnable alone) exposing ``run(quick)``; this one
runs them in turn and prints one JSON document keyed by part. The ``moves`` part is here: what a move that loses
nothing costs, the tiering mover beside a bare export of the same rows.

Readings (sensor, ts, value) fill N whole UTC days of an SQLite table; then, alternating in rounds on fresh copies:

- ``export``: the floor — read each day's rows and write them as zstd Parquet to the folder (no verify, no audit,
  no delete);
- ``mover``: ``Mover.run`` — copy, read back and compare both checksums, record the move and delete the day's rows
  in one transaction.

Reported: MB/s of table data (the values as text, as the inventory counts them) for each, the ratio, and the
cold/hot size ratio (Parquet bytes / table bytes).

Usage::

    .venv/bin/python benchmarks/tiering.py                 # every part, full size
    .venv/bin/python benchmarks/tiering.py --quick         # every part, small samples
    .venv/bin/python benchmarks/tiering.py --only moves    # one part (moves, query, fab, mlops, segments, iceberg)
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import tiering_fab
import tiering_iceberg
import tiering_mlops
import tiering_query
import tiering_readings
import tiering_segments
from parts import Part, run_parts

from datastrata.core.clock import FrozenClock
from datastrata.stores.open import open_database
from datastrata.tiering import rows as tabular
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.plan import plan
from datastrata.tiering.policy import parse_policy

NOW = tiering_readings.NOW
POLICY = {
    "name": "bench",
    "datasets": {
        "readings": {
            "kind": "rows",
            "table": "readings",
            "time_column": "ts",
            "rules": [{"after": "1d", "to": "cold"}],
        }
    },
}


def fill(path: Path, days: int, per_day: int) -> int:
    """Create the readings table with `days` whole days before NOW; return the table's bytes."""
    tiering_readings.fill(path, days, per_day)
    db = open_database(f"sqlite:///{path}?synchronous=NORMAL")
    with db.read() as tx:
        size = sum(b for _, _, b in tabular.days_in_table(tx, parse_policy(POLICY).datasets["readings"]))
    db.close()
    return size


def export(path: Path, folder: Path) -> float:
    """The floor: read each day and write it as Parquet; return the seconds taken."""
    db = open_database(f"sqlite:///{path}?synchronous=NORMAL")
    ds = parse_policy(POLICY).datasets["readings"]
    objects = ObjectStore(f"file://{folder}")
    start = time.perf_counter()
    with db.read() as tx:
        days = [d for d, _, _ in tabular.days_in_table(tx, ds)]
        for day in days:
            objects.put(f"export/{day}.parquet", tabular.to_parquet(tabular.read_day(tx, ds, day)))
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def move(path: Path, folder: Path) -> tuple[float, int]:
    """The mover: plan and run; return the seconds taken and the Parquet bytes written."""
    db = open_database(f"sqlite:///{path}?synchronous=NORMAL")
    clock = FrozenClock(NOW)
    mover = Mover(db, ObjectStore(f"file://{folder}", clock=clock), parse_policy(POLICY), clock=clock)
    start = time.perf_counter()
    records = mover.run(plan(mover.policy, mover.inventory(), NOW))
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed, sum(r.bytes for r in records)


def moves(quick: bool) -> dict[str, Any]:
    """The mover beside a bare export of the same rows; return the figures."""
    rounds, days, per_day = (2, 4, 10_000) if quick else (3, 8, 50_000)
    times: dict[str, list[float]] = {"export": [], "mover": []}
    with tempfile.TemporaryDirectory(prefix="datastrata-bench-tiering-") as tmp:
        home = Path(tmp)
        template = home / "template.db"
        hot_bytes = fill(template, days, per_day)
        cold_bytes = 0
        for r in range(rounds):
            for way in ("export", "mover"):
                db = home / f"{way}-{r}.db"
                shutil.copy(template, db)
                folder = home / f"{way}-{r}-objects"
                if way == "export":
                    times[way].append(export(db, folder))
                else:
                    seconds, cold_bytes = move(db, folder)
                    times[way].append(seconds)
    mb = hot_bytes / 1e6
    rate = {way: round(mb / statistics.median(values), 1) for way, values in times.items()}
    return {
        "rounds": rounds,
        "readings": days * per_day,
        "table_mb": round(mb, 1),
        "mb_per_s": rate,
        "mover_vs_export": round(rate["mover"] / rate["export"], 2),
        "cold_over_hot_bytes": round(cold_bytes / hot_bytes, 3),
    }


PARTS: dict[str, Part] = {
    "moves": moves,
    "query": tiering_query.run,
    "fab": tiering_fab.run,
    "mlops": tiering_mlops.run,
    "segments": tiering_segments.run,
    "iceberg": tiering_iceberg.run,
}


def main() -> None:
    """Run the parts and print one JSON document."""
    run_parts("tiering", __doc__.splitlines()[0], PARTS)


if __name__ == "__main__":
    main()
