"""What registering cold parts in an Iceberg table costs: the mover with and without ``iceberg:``, and reading back.

Readings (sensor, ts, value) fill N whole UTC days of an SQLite table (N - 1 of them old enough to move); then,
alternating in rounds on fresh copies, ``Mover.run`` moves every day to Parquet in a folder:

- ``plain``: the policy without Iceberg (copy, verify, record, delete);
- ``iceberg``: the same policy with ``iceberg: {table: bench.readings}`` — each recorded part is also appended to
  the table with pyiceberg's ``add_files`` (SQL catalog in the same SQLite file).

Reported: the seconds of each (median), the ratio, the registration cost per part, and reading every moved row
back through pyiceberg's scan beside DuckDB over the same files (the floor), with the row counts checked equal.

Usage::

    .venv/bin/python benchmarks/tiering_iceberg.py            # 3 rounds, 8 days x 50,000 readings
    .venv/bin/python benchmarks/tiering_iceberg.py --quick    # 2 rounds, 4 days x 10,000 readings
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
from tiering_readings import NOW, fill

from datastrata.core.clock import FrozenClock
from datastrata.stores.open import open_database
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.plan import plan
from datastrata.tiering.policy import parse_policy

PLAIN: dict[str, Any] = {
    "name": "bench",
    "datasets": {
        "readings": {"kind": "rows", "table": "readings", "time_column": "ts", "rules": [{"after": "1d", "to": "cold"}]}
    },
}
ICEBERG = copy.deepcopy(PLAIN)
ICEBERG["datasets"]["readings"]["iceberg"] = {"table": "bench.readings"}


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


def move(path: Path, folder: Path, policy: dict[str, Any]) -> tuple[float, Mover]:
    """Plan and run `policy` on a copy of the table; return the seconds taken and the mover (still open)."""
    db = open_database(f"sqlite:///{path}?synchronous=NORMAL")
    clock = FrozenClock(NOW)
    mover = Mover(db, ObjectStore(f"file://{folder}", clock=clock), parse_policy(policy), clock=clock)
    start = time.perf_counter()
    mover.run(plan(mover.policy, mover.inventory(), NOW))
    return time.perf_counter() - start, mover


def read_back(mover: Mover) -> dict[str, Any]:
    """Every moved row through pyiceberg's scan, and through DuckDB over the table's files; seconds and rows."""
    table = mover.iceberg.catalog().load_table("bench.readings")
    start = time.perf_counter()
    scanned = table.scan().to_arrow()
    scan_s = time.perf_counter() - start
    files = sorted(t.file.file_path.removeprefix("file://") for t in table.scan().plan_files())
    start = time.perf_counter()
    con = duckdb.connect()
    duck = con.sql(f"SELECT * FROM read_parquet({files})").to_arrow_table()
    duck_s = time.perf_counter() - start
    con.close()
    if scanned.num_rows != duck.num_rows:
        raise AssertionError(f"pyiceberg read {scanned.num_rows} rows, DuckDB {duck.num_rows}")
    return {"rows": scanned.num_rows, "files": len(files), "pyiceberg_scan_s": scan_s, "duckdb_parquet_s": duck_s}


def run(quick: bool) -> dict[str, object]:
    """Measure and return the figures (the coordinator's benchmarks/tiering.py calls this)."""
    rounds, days, per_day = (2, 4, 10_000) if quick else (3, 8, 50_000)
    import pyiceberg.catalog.sql
    import pyiceberg.io.pyarrow  # noqa: F401  (imported once up front: the first round should not pay for it)

    times: dict[str, list[float]] = {"plain": [], "iceberg": []}
    reads: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="datastrata-bench-iceberg-") as tmp:
        home = Path(tmp)
        template = home / "template.db"
        fill(template, days, per_day)
        for r in range(rounds):
            for way, policy in (("plain", PLAIN), ("iceberg", ICEBERG)):
                db = home / f"{way}-{r}.db"
                shutil.copy(template, db)
                seconds, mover = move(db, home / f"{way}-{r}-objects", policy)
                times[way].append(seconds)
                if way == "iceberg":
                    reads.append(read_back(mover))
                mover.db.close()
                log(f"round {r + 1}/{rounds} {way}: {seconds:.2f} s")
    plain, iceberg = statistics.median(times["plain"]), statistics.median(times["iceberg"])
    scan = statistics.median(x["pyiceberg_scan_s"] for x in reads)
    duck = statistics.median(x["duckdb_parquet_s"] for x in reads)
    return {
        "rounds": rounds,
        "readings": days * per_day,
        "days_moved": reads[-1]["files"],
        "move_s": {"plain": round(plain, 3), "iceberg": round(iceberg, 3)},
        "iceberg_over_plain": round(iceberg / plain, 2),
        "registration_ms_per_part": round((iceberg - plain) / reads[-1]["files"] * 1000, 1),
        "read_back": {
            "rows": reads[-1]["rows"],
            "files": reads[-1]["files"],
            "pyiceberg_scan_s": round(scan, 3),
            "duckdb_parquet_s": round(duck, 3),
            "scan_over_duckdb": round(scan / duck, 2),
        },
    }


def main() -> None:
    """Run the comparison and print one JSON document."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds, 4 days x 10,000 readings")
    args = parser.parse_args()
    json.dump(run(args.quick), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
