"""Shared pieces of the cold-rows tests: two tenants' fab readings moved by a rows policy into shared Parquet parts
(registered in an Iceberg table), and what every part holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.stores.database import Database, time_to_db
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.policy import parse_policy
from datastrata.tiering.query import RangeQuery, run_query
from datastrata.tiering.rows import from_parquet
from datastrata.tiering.tenantrows import TenantRows

ROOT = Path(__file__).parents[2]
CHILD = Path(__file__).with_name("cold_child.py")
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
#: Days before NOW with readings: the first stays hot, the others go cold (after 3 days).
DAYS = (1, 5, 6, 8)
SENSORS = 3
POLICY: dict[str, Any] = {
    "name": "coldrows",
    "datasets": {
        "readings": {
            "kind": "rows",
            "table": "fab_readings",
            "time_column": "ts",
            "rules": [{"after": "3d", "to": "cold"}],
            "iceberg": {"table": "fab.readings"},
        }
    },
}
Row = tuple[str, str, str, float]


def fill(db: Database, tenants: Iterable[str]) -> None:
    """Write each tenant's readings: SENSORS a day for each of DAYS (a fixture, not commands)."""
    with db.transaction() as tx:
        tx.executemany(
            "INSERT INTO fab_readings (tenant_id, sensor_id, ts, value) VALUES (?, ?, ?, ?)",
            [
                (who, f"s{i}", time_to_db(tx.dialect, NOW - timedelta(days=d, hours=i)), float(d * 10 + i))
                for who in tenants
                for d in DAYS
                for i in range(SENSORS)
            ],
        )


def tier_mover(db: Database, objects_url: str, clock: FrozenClock | None = None) -> Mover:
    """The policy's mover on `db` and the objects at `objects_url`."""
    clock = clock or FrozenClock(NOW)
    return Mover(db, ObjectStore(objects_url, clock=clock), parse_policy(POLICY), clock=clock)


def tier(db: Database, objects_url: str) -> Mover:
    """Move the old days of every tenant's readings into shared cold parts; return the mover."""
    mover = tier_mover(db, objects_url)
    mover.run(mover.plan(NOW))
    return mover


def cold_days() -> int:
    """Days of DAYS that go cold."""
    return sum(1 for d in DAYS if d > 3)


def part_rows(mover: Mover) -> dict[str, list[Row]]:
    """Every recorded part's rows, by object key."""
    found: dict[str, list[Row]] = {}
    for parts in mover.cold_parts("readings").values():
        for part in parts:
            table = from_parquet(mover.objects.read(part.location))
            found[part.location] = _rows(table)
    return found


def iceberg_rows(mover: Mover) -> list[Row]:
    """The rows the Iceberg table holds, as another engine reads them."""
    return sorted(_rows(mover.iceberg.catalog().load_table("fab.readings").scan().to_arrow()))


def queried(mover: Mover, tenant: str) -> list[Row]:
    """`tenant`'s readings over every tier (hot and cold) through the one all-tier query (the tenant as a series)."""
    return _rows(run_query(mover, RangeQuery("readings", NOW - timedelta(days=30), NOW, {"tenant_id": tenant})))


def expected(tenant: str, *, cold: bool | None = None) -> list[Row]:
    """`tenant`'s readings as `fill` wrote them (only the cold days, only the hot ones, or all)."""
    return sorted(
        (tenant, f"s{i}", (NOW - timedelta(days=d, hours=i)).isoformat(), float(d * 10 + i))
        for d in DAYS
        if cold is None or (d > 3) == cold
        for i in range(SENSORS)
    )


def stored_parts(objects: ObjectStore) -> list[str]:
    """The Parquet parts in the object store (records or not)."""
    return sorted(o.key for o in objects.list("tiering/"))


def share_rows(rows: TenantRows, tenant: str) -> list[Row]:
    """`tenant`'s rows in the parts, through the one reader of parts."""
    return sorted(r for p in rows.share(tenant).parts for r in _rows(p.rows))


def kill_child(mode: str, settings: Settings, line: str, nth: int) -> list[str]:
    """Run cold_child.py `mode` on `settings` and SIGKILL it once it printed its `nth` line starting with `line`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, str(CHILD), mode, settings.store, settings.objects, settings.graph, "acme"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    seen: list[str] = []
    while len([s for s in seen if s.startswith(line)]) < nth:
        got = proc.stdout.readline()
        assert got, f"the child ended before {line!r} #{nth}: {seen}"
        seen.append(got.strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return seen


def _rows(table: Any) -> list[Row]:
    times = pc.cast(table["ts"], pa.timestamp("us", tz="UTC")).to_pylist()
    columns = (table["tenant_id"].to_pylist(), table["sensor_id"].to_pylist(), times, table["value"].to_pylist())
    return sorted((str(t), str(s), at.isoformat(), float(v)) for t, s, at, v in zip(*columns, strict=True))
