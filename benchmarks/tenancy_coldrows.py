"""Taking one tenant's rows out of shared cold parts, against writing those parts in the first place.

Readings of T tenants (tenant_id, sensor_id, ts, value) for D days fill a SQLite table; a rows policy moves every
day into a zstd Parquet part in a local folder (one part per day holding every tenant's rows). Each round takes a
fresh copy of that store and folder (outside the timing) and takes one tenant's rows out of every part
(``TenantRows.remove``: read the part, filter, write the new part, read it back and compare, update its record,
delete the old one). The floor is the least a verified part write costs, as the tiering move writes a part: the
same parts' rows written as Parquet, stored, read back and both checksummed, in the same run. Times are CPU seconds
of this process (the host is shared), best of N rounds. Offboarding one tenant rewrites every part holding any of
its rows, so its cost follows the location's cold data (``rows_rewritten``), not the tenant's (``rows_taken_out``).

Usage::

    .venv/bin/python benchmarks/tenancy_coldrows.py            # 20 tenants x 5 days x 2,000 rows (200,000 rows)
    .venv/bin/python benchmarks/tenancy_coldrows.py --quick    # 5 tenants x 3 days x 500 rows
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from datastrata.core.clock import FrozenClock
from datastrata.stores.database import time_to_db
from datastrata.stores.open import open_database
from datastrata.tiering import rows as tabular
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.policy import parse_policy
from datastrata.tiering.tenantrows import TenantRows
from tiering import POLICY  # the same rows policy: every day older than one day goes cold

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def main() -> None:
    """Run the benchmark and print its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tenants, days, rows = (5, 3, 500) if args.quick else (20, 5, 2_000)
    with tempfile.TemporaryDirectory() as tmp:
        result = run(Path(tmp), tenants, days, rows, args.rounds)
    result["load"] = Path("/proc/loadavg").read_text().split()[:3] if os.path.exists("/proc/loadavg") else None
    json.dump(result, sys.stdout, indent=2)
    print()


def run(tmp: Path, tenants: int, days: int, per_day: int, rounds: int) -> dict[str, Any]:
    """Fill, tier, then time the rewrite and its floor."""
    clock = FrozenClock(NOW)
    db = open_database(f"sqlite:///{tmp / 'bench.db'}")
    objects = ObjectStore(f"file://{tmp / 'objects'}", clock=clock)
    with db.transaction() as tx:
        tx.run_script(
            "CREATE TABLE readings (tenant_id TEXT NOT NULL, sensor_id TEXT NOT NULL, ts TEXT NOT NULL, "
            "value REAL NOT NULL)"
        )
        tx.executemany(
            "INSERT INTO readings VALUES (?, ?, ?, ?)",
            [
                (
                    f"t{t:03d}",
                    f"s{i % 10}",
                    time_to_db("sqlite", NOW - timedelta(days=d + 2) + timedelta(seconds=i)),
                    i * 0.5,
                )
                for t in range(tenants)
                for d in range(days)
                for i in range(per_day)
            ],
        )
    mover = Mover(db, objects, parse_policy(POLICY), clock=clock)
    mover.run(mover.plan(NOW))
    db.close()
    parts = TenantRows(open_database(f"sqlite:///{tmp / 'bench.db'}"), objects).records()
    tables = {p.location: tabular.from_parquet(objects.read(p.location)) for p in parts}
    size = sum(objects.info(p.location).size for p in parts)

    floor: list[float] = []
    rewrite: list[float] = []
    for n in range(rounds):
        fresh = tmp / f"round{n}"  # the store and parts as tiering left them (copied outside the timing)
        fresh.mkdir()
        shutil.copy(tmp / "bench.db", fresh / "bench.db")
        shutil.copytree(tmp / "objects", fresh / "objects")
        copy = ObjectStore(f"file://{fresh / 'objects'}", clock=clock)
        started = time.process_time()
        for key, table in tables.items():
            data = tabular.to_parquet(table)  # a part write as tiering verifies it: stored, read back, checksummed
            copy.put(f"floor/{key}", data)
            stored = copy.read(f"floor/{key}")
            assert tabular.checksum(tabular.from_parquet(stored)) == tabular.checksum(table)
        floor.append(time.process_time() - started)
        store = open_database(f"sqlite:///{fresh / 'bench.db'}")
        cold = TenantRows(store, copy)
        started = time.process_time()
        taken = cold.remove("t000")
        rewrite.append(time.process_time() - started)
        store.close()
        assert taken == (days, days * per_day), taken
    return {
        "benchmark": "tenancy_coldrows",
        "tenants": tenants,
        "days": days,
        "rows_per_tenant_day": per_day,
        "parts": len(parts),
        "part_bytes": size,
        "rows_taken_out": days * per_day,
        "rows_rewritten": sum(t.num_rows for t in tables.values()),
        "floor_cpu_seconds_best": round(min(floor), 4),
        "remove_cpu_seconds_best": round(min(rewrite), 4),
        "remove_over_floor": round(min(rewrite) / min(floor), 2),
        "rounds": rounds,
    }


def _at(day: int, i: int) -> datetime:
    """The i-th reading's time on the day `day` days before the cold cut-off."""
    return NOW - timedelta(days=day + 2) + timedelta(seconds=i)


if __name__ == "__main__":
    main()
