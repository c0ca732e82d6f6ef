"""The fab's data lifecycle: 1-minute aggregates from raw readings, then the tiering policy's moves, and the status.

The policy (``policy.yaml``, package data) is the article's: raw readings hot for the last hour, warm (a second
table of the same store) up to 3 days, then Parquet in object storage until they expire after 7 years; 1-minute
aggregates 24 hours hot, then warm; the access log frozen after a year. Aggregates are computed before any move
of the run, from the raw readings still in the relational store.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

import pyarrow as pa
import yaml

from datastrata.core.tenancy import DEFAULT_TENANT
from datastrata.runtime import Runtime, Scope
from datastrata.runtime.location import Work
from datastrata.stores.database import time_from_db, time_to_db
from datastrata.systems.fab.domain import LATE, minute_floor
from datastrata.tiering.job import TieringJob
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.plan import plan
from datastrata.tiering.policy import Policy, parse_policy
from datastrata.tiering.query import RangeQuery, run_query
from datastrata.tiering.tiers import Tier

#: How many plan → run passes one tiering run makes (a row reaching warm may be due for cold in the same run).
PASSES = 4
#: How often the worker's fab job aggregates (it plans moves once an hour, like any tiering job).
AGGREGATE_EVERY = timedelta(minutes=1)


def fab_policy() -> Policy:
    """The fab's tiering policy, shipped as package data (``policy.yaml``)."""
    text = resources.files(__package__).joinpath("policy.yaml").read_text(encoding="utf-8")
    return parse_policy(yaml.safe_load(text))


class FabTiers:
    """Aggregates and moves the fab's data between tiers, and reads it back from every tier."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.clock = runtime.clock
        self.policy = fab_policy()
        objects = ObjectStore(runtime.settings.objects, clock=runtime.clock)
        # A job over every tenant (the operator's, not a caller's command): it aggregates and tiers every tenant's
        # readings, and each row it writes keeps the tenant of the readings it comes from. So it never takes the
        # caller's tenant; the scope only names the location.
        self.scope = Scope("fab", tenant=DEFAULT_TENANT)
        store = runtime.locate(self.scope).db  # the fab's location: its tables and the move audit live there
        self.mover = Mover(store, objects, self.policy, clock=runtime.clock)
        self._job = TieringJob(self.mover)
        self._aggregated_at: datetime | None = None

    def aggregate(self, now: datetime | None = None) -> int:
        """Compute the 1-minute aggregates of every minute no reading can still arrive for; return how many rows."""
        now = now or self.clock()
        cutoff = minute_floor(now - LATE)
        with self.runtime.transaction(self.scope) as tx:
            upto = tx.scalar("SELECT upto FROM fab_aggregated WHERE name = 'readings_1m'")
            start = time_from_db(upto) if upto is not None else self._earliest(tx)
            if start is None or start >= cutoff:
                return 0
            minute = _minute_sql(tx)
            bounds = (time_to_db(tx.dialect, start), time_to_db(tx.dialect, cutoff))
            cursor = tx.execute(
                "INSERT INTO fab_readings_1m (tenant_id, sensor_id, minute, min_value, max_value, avg_value, readings) "
                f"SELECT tenant_id, sensor_id, {minute}, min(value), max(value), avg(value), count(*) FROM ("
                "SELECT tenant_id, sensor_id, ts, value FROM fab_readings WHERE ts >= ? AND ts < ? UNION ALL "
                "SELECT tenant_id, sensor_id, ts, value FROM fab_readings_warm WHERE ts >= ? AND ts < ?"
                f") AS raw GROUP BY tenant_id, sensor_id, {minute}",
                bounds + bounds,
            )
            tx.execute(
                "INSERT INTO fab_aggregated (name, upto) VALUES ('readings_1m', ?) "
                "ON CONFLICT (name) DO UPDATE SET upto = excluded.upto",
                (time_to_db(tx.dialect, cutoff),),
            )
        return int(cursor.rowcount)

    def _earliest(self, tx: Work) -> datetime | None:
        found = [tx.scalar(f"SELECT min(ts) FROM {table}") for table in ("fab_readings", "fab_readings_warm")]
        times = [time_from_db(t) for t in found if t is not None]
        return minute_floor(min(times)) if times else None

    def run(self, now: datetime | None = None) -> dict[str, Any]:
        """Aggregate, then carry out the policy's moves until none is due; what moved and what is held."""
        now = now or self.clock()
        aggregated = self.aggregate(now)
        moved: list[dict[str, object]] = []
        held: list[dict[str, object]] = []
        for _ in range(PASSES):
            planned = plan(self.policy, self.mover.inventory(), now)
            held = [h.to_dict() for h in planned.held]
            if not planned.moves:
                break
            moved += [r.to_dict() for r in self.mover.run(planned)]
            if all(m.to is m.rule.to for m in planned.moves):
                break  # nothing stopped on its way (hot → warm → colder): nothing more is due
        return {"at": now.isoformat(), "aggregated": aggregated, "moved": moved, "held": held}

    def job(self) -> int:
        """One worker round: aggregate once a minute, then at most a few moves of the hourly plan."""
        now = self.clock()
        done = 0
        if self._aggregated_at is None or now - self._aggregated_at >= AGGREGATE_EVERY:
            done += self.aggregate(now)
            self._aggregated_at = now
        return done + self._job()

    def read(self, dataset: str, start: datetime, end: datetime) -> pa.Table:
        """Every row of `dataset` in [start, end), from hot, warm and cold alike (all tenants)."""
        return self.mover.read_range(dataset, start, end)

    def query(self, q: RangeQuery) -> pa.Table:
        """Answer `q` over every tier (the library's one all-tier query, with series filters and aggregation)."""
        return run_query(self.mover, q)

    def status(self) -> dict[str, Any]:
        """Rows, bytes and items per dataset and tier, and the moves made so far (from → to)."""
        tiers: dict[str, dict[str, dict[str, int]]] = {}
        for item in self.mover.inventory():
            slot = tiers.setdefault(item.dataset, {}).setdefault(item.tier.value, {"items": 0, "rows": 0, "bytes": 0})
            slot["items"] += 1
            slot["rows"] += item.rows
            slot["bytes"] += item.bytes
        records = self.mover.records()
        moves = Counter(f"{r.dataset}: {r.from_tier} → {r.to_tier}" for r in records)
        ordered = {
            name: {t.value: tiers.get(name, {}).get(t.value, {"items": 0, "rows": 0, "bytes": 0}) for t in _SHOWN}
            for name in self.policy.datasets
        }
        return {
            "at": self.clock().isoformat(),
            "tiers": ordered,
            "moves": dict(sorted(moves.items())),
            "last_move": records[-1].moved_at.isoformat() if records else None,
        }


_SHOWN = (Tier.HOT, Tier.WARM, Tier.COLD, Tier.FROZEN)


def _minute_sql(tx: Work) -> str:
    if tx.dialect == "sqlite":
        return "substr(ts, 1, 16) || ':00.000000Z'"
    return "date_trunc('minute', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
