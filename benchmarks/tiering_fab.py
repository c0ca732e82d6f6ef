"""The wafer fab's hot path and its cold bytes: ingest rate with alerts, alert latency, Parquet vs the hot table.

Measured in one run, on the embedded store (SQLite, ``synchronous=FULL``, the default):

* **ingest readings/s, batched**: ``FabService.ingest`` — validate, insert the batch with one ``executemany``,
  compute threshold crossings, update alarm states and append the alert events, with the batch id as the
  idempotency key, all in one transaction — beside the **floor**: the raw ``sqlite3`` driver inserting the same
  rows into the same table shape with one ``executemany`` and one commit per batch (no validation, no alerts, no
  key). Rounds alternate between the two on fresh files; the medians are reported, and the median of the
  per-round ratios (each round's two figures were taken a moment apart, so their ratio is the steadiest figure on
  a busy host).
* **alert latency** (reading time → alert committed): readings are stamped as if they arrived at the measured
  ingest rate while their batch filled (the oldest reading of a batch waited for the whole batch), and the batch
  is ingested at once; the latency of each alert is the commit time minus its reading's time, on the system
  clock. p50 and p99 over every alert of the run (goal ≤ 1 s).
* **cold bytes vs hot bytes for the same readings**: readings moved hot → warm → cold by the fab's own policy
  (Parquet, zstd) against the pages the same readings take in SQLite's hot table and its primary key (from a
  fresh, vacuumed file holding only them), and against the inventory's size (values as text). Goal ≤ 10%.

Usage::

    .venv/bin/python benchmarks/tiering_fab.py            # 5 rounds of 200,000 readings; a day of 20 sensors cold
    .venv/bin/python benchmarks/tiering_fab.py --quick    # 3 rounds of 50,000 readings; 4 hours of 10 sensors

JSON goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.stores.database import time_to_db
from datastrata.systems.fab.domain import Reading
from datastrata.systems.fab.schema import ddl
from datastrata.systems.fab.service import FabService
from datastrata.systems.fab.simulate import sensor_ids

BATCH = 5_000
SENSORS = 1_000
#: One reading in this many goes over its threshold (then back), so alerts keep coming.
EXCURSION = 500


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


def make_batches(total: int, rate: float, seed: int) -> list[list[Reading]]:
    """`total` readings of SENSORS sensors in batches, stamped as if arriving at `rate` per second until now."""
    rng = random.Random(seed)
    kinds = dict(sensor_ids(SENSORS))
    base = {"temperature": 60.0, "pressure": 100.0, "vibration": 2.0}
    over = {"temperature": 90.0, "pressure": 130.0, "vibration": 8.0}
    ids = list(kinds)
    batches: list[list[Reading]] = []
    for b in range(total // BATCH):
        batch = []
        for i in range(BATCH):
            sensor = ids[(b * BATCH + i) % SENSORS]
            kind = kinds[sensor]
            value = over[kind] if rng.randrange(EXCURSION) == 0 else base[kind] + rng.gauss(0, 1)
            batch.append(Reading(sensor, datetime.now(UTC), round(value, 4)))  # stamped again just before ingest
        batches.append(batch)
    return batches


class Gateway:
    """Stamps batches as if their readings arrived at `rate` per second, the last one now, never before the last."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.last = datetime.min.replace(tzinfo=UTC)

    def stamp(self, batch: list[Reading]) -> list[Reading]:
        """The batch with arrival times (millisecond resolution) after every earlier batch's."""
        now = datetime.now(UTC)
        first = max(now - timedelta(seconds=(len(batch) - 1) / self.rate), self.last + timedelta(milliseconds=1))
        step = (now - first) / max(1, len(batch) - 1)
        out = []
        for i, r in enumerate(batch):
            at = first + step * i
            out.append(Reading(r.sensor_id, at.replace(microsecond=at.microsecond // 1000 * 1000), r.value))
        self.last = max(r.at for r in out)
        seen: set[tuple[str, datetime]] = set()  # a sensor twice in one millisecond: keep the first
        return [r for r in out if (r.sensor_id, r.at) not in seen and not seen.add((r.sensor_id, r.at))]


def ingest_service(folder: Path, batches: list[list[Reading]], rate: float) -> tuple[float, int, list[float]]:
    """Readings/s through FabService.ingest, readings stored, and every alert's latency in seconds."""
    with Runtime.open(Settings(store=f"sqlite:///{folder}/fab.db", objects=f"file://{folder}/objects")) as runtime:
        svc = FabService(runtime)
        svc.register_sensors(sensor_ids(SENSORS))
        gateway = Gateway(rate)
        svc.ingest("warm-up", gateway.stamp(batches[0]))
        latencies: list[float] = []
        stored = 0
        spent = 0.0
        for i, batch in enumerate(batches[1:]):
            readings = gateway.stamp(batch)
            began = time.perf_counter()
            done = svc.ingest(f"batch-{i}", readings)
            spent += time.perf_counter() - began
            stored += done.readings
            latencies += done.latencies
    return stored / spent, stored, latencies


def ingest_floor(folder: Path, batches: list[list[Reading]], rate: float) -> float:
    """Readings/s of the raw driver: the same rows, one executemany and one commit per batch."""
    conn = sqlite3.connect(folder / "floor.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(ddl("sqlite"))
    stored = 0
    spent = 0.0
    gateway = Gateway(rate)
    for batch in batches[1:]:
        rows = [("default", r.sensor_id, time_to_db("sqlite", r.at), r.value) for r in gateway.stamp(batch)]
        began = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO fab_readings (tenant_id, sensor_id, ts, value) VALUES (?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        spent += time.perf_counter() - began
        stored += len(rows)
    conn.close()
    return stored / spent


def cold_vs_hot(folder: Path, sensors: int, hours: int) -> dict[str, Any]:
    """Simulate `hours` of `sensors` at 1 reading/s, let 4 days pass, and compare Parquet with the hot table."""
    from datastrata.systems.fab.simulate import simulate

    start = datetime(2026, 11, 2, tzinfo=UTC)
    clock = FrozenClock(start)
    settings = Settings(store=f"sqlite:///{folder}/cold.db", objects=f"file://{folder}/objects-cold")
    with Runtime.open(settings, clock=clock) as runtime:
        svc = FabService(runtime)
        summary = simulate(svc, clock, sensors=sensors, rate=1.0, minutes=hours * 60, start=start)
        with runtime.read(svc.scope()) as tx:
            rows = tx.query("SELECT tenant_id, sensor_id, ts, value FROM fab_readings_warm ORDER BY ts")
            rows += tx.query("SELECT tenant_id, sensor_id, ts, value FROM fab_readings ORDER BY ts")
        hot_file = folder / "hot-only.db"
        conn = sqlite3.connect(hot_file, isolation_level=None)
        conn.executescript(ddl("sqlite"))
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO fab_readings VALUES (?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        empty = sqlite3.connect(folder / "empty.db", isolation_level=None)
        empty.executescript(ddl("sqlite"))
        empty.execute("VACUUM")
        empty.close()
        conn.execute("VACUUM")
        conn.close()
        hot_bytes = hot_file.stat().st_size - (folder / "empty.db").stat().st_size
        text_bytes = sum(i.bytes for i in svc.tiers.mover.inventory() if i.dataset == "readings")
        clock.set(start + timedelta(days=5))
        svc.tiers.run()
        records = [r for r in svc.tiers.mover.records("readings") if r.to_tier == "cold"]
        cold_rows = sum(r.rows for r in records)
        cold_bytes = sum(r.bytes for r in records)
    return {
        "readings": summary["readings"],
        "cold_rows": cold_rows,
        "hot_table_bytes": hot_bytes,
        "text_bytes": text_bytes,
        "cold_bytes": cold_bytes,
        "cold_vs_hot_table": round(cold_bytes / hot_bytes, 4),
        "cold_vs_text": round(cold_bytes / text_bytes, 4),
        "goal_cold_vs_hot": 0.10,
    }


def run(quick: bool) -> dict[str, Any]:
    """Measure the fab's figures; return them as a JSON-friendly dict."""
    total, rounds = (50_000, 3) if quick else (200_000, 5)
    rate = 100_000.0  # readings stamped as if arriving at this rate: a batch of 5,000 fills in 50 ms
    batches = make_batches(total + BATCH, rate, seed=1)
    service_rates: list[float] = []
    floor_rates: list[float] = []
    latencies: list[float] = []
    for round_ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            floor_rates.append(ingest_floor(folder, batches, rate))
            per_s, _, lat = ingest_service(folder, batches, rate)
            service_rates.append(per_s)
            latencies += lat
        log(f"round {round_ + 1}/{rounds}: service {service_rates[-1]:,.0f}/s, floor {floor_rates[-1]:,.0f}/s")
    latencies.sort()
    with tempfile.TemporaryDirectory() as tmp:
        cold = cold_vs_hot(Path(tmp), sensors=10 if quick else 20, hours=4 if quick else 24)
    log(f"cold/hot {cold['cold_vs_hot_table']}")
    service, floor = statistics.median(service_rates), statistics.median(floor_rates)
    return {
        "ingest": {
            "batch": BATCH,
            "readings_per_round": total,
            "rounds": rounds,
            "service_readings_per_s": round(service),
            "floor_readings_per_s": round(floor),
            "service_vs_floor": round(
                statistics.median(s / f for s, f in zip(service_rates, floor_rates, strict=True)), 3
            ),
            "service_vs_floor_per_round": [round(s / f, 3) for s, f in zip(service_rates, floor_rates, strict=True)],
            "goal_readings_per_s": 50_000,
        },
        "alert_latency_s": {
            "alerts": len(latencies),
            "arrival_rate_per_s": rate,
            "p50": round(latencies[len(latencies) // 2], 4) if latencies else None,
            "p99": round(latencies[int(len(latencies) * 0.99)], 4) if latencies else None,
            "goal_p99": 1.0,
        },
        "cold_bytes": cold,
    }


def main() -> None:
    """Run from the command line; print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and readings")
    print(json.dumps(run(parser.parse_args().quick), indent=2))


if __name__ == "__main__":
    main()
