"""Point-in-time training set: 1M labels x 10 features through the feature store, beside DuckDB's ASOF JOIN alone.

Measured in one run on the same data:

* **training set**: ``FeatureStore.training_set`` end to end — the labels checked, the view's Parquet parts read
  from the object store (zstd, one per day), ties of event time resolved (the later ingestion, then the later row),
  DuckDB's ASOF JOIN, the TTL applied, label order restored. Goal ≤ 10 s for 1M labels x 10 features.
* **floor**: DuckDB's ASOF JOIN alone on the same labels and history, already in memory as Arrow tables (no Parquet
  read, no tie rule, no TTL, no ordering).
* **online reads**: materialisation of the history into the online store (embedded SQLite, and Redis when
  ``redis-server`` is installed), then single-entity ``FeatureStore.online`` calls: p50 and p99 latency, beside
  the same number of bare driver reads of the same key (SQLite primary-key SELECT; Redis HMGET).

The history has 10 values per entity over 30 days (1M rows for 100k entities in full mode). Quick mode: 100k labels
and 100k history rows.

Usage::

    .venv/bin/python benchmarks/tiering_mlops.py            # full: 1M labels
    .venv/bin/python benchmarks/tiering_mlops.py --quick    # 100k labels

JSON goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from datastrata.core.config import Settings
from datastrata.core.tenancy import current_tenant
from datastrata.runtime import Runtime
from datastrata.systems.mlops.domain import EVENT_TIME, LABEL, LABEL_TIME
from datastrata.systems.mlops.offline import TIME
from datastrata.systems.mlops.service import MlopsService
from datastrata.testing.servers import ServerUnavailable, ephemeral_redis

FEATURES = [f"f{i}" for i in range(10)]
START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 30
_US_DAY = 86_400_000_000


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


def tables(labels: int, entities: int, per_entity: int, seed: int = 1) -> tuple[pa.Table, pa.Table]:
    """Random history (entities x per_entity values of 10 float features over 30 days) and labels."""
    rng = np.random.default_rng(seed)
    start = int(START.timestamp() * 1_000_000)
    names = np.array([f"e{i:07d}" for i in range(entities)], dtype=object)
    rows = entities * per_entity
    history = {
        "customer_id": pa.array(names[np.repeat(np.arange(entities), per_entity)], pa.string()),
        EVENT_TIME: pa.array(start + rng.integers(0, DAYS * _US_DAY, rows), pa.int64()).cast(TIME),
    }
    for f in FEATURES:
        history[f] = pa.array(rng.normal(size=rows), pa.float64())
    label_table = pa.table(
        {
            "customer_id": pa.array(names[rng.integers(0, entities, labels)], pa.string()),
            LABEL_TIME: pa.array(start + rng.integers(0, DAYS * _US_DAY, labels), pa.int64()).cast(TIME),
            LABEL: pa.array(rng.integers(0, 2, labels).astype(np.float64), pa.float64()),
        }
    )
    return pa.table(history), label_table


def floor(history: pa.Table, labels: pa.Table) -> float:
    """DuckDB's ASOF JOIN alone over the in-memory Arrow tables."""
    con = duckdb.connect()
    con.register("h", history)
    con.register("l", labels)
    features = ", ".join(f"h.{f}" for f in FEATURES)
    began = time.perf_counter()
    out = con.sql(
        f"SELECT l.*, {features} FROM l ASOF LEFT JOIN h ON l.customer_id = h.customer_id "
        f"AND l.{LABEL_TIME} >= h.{EVENT_TIME}"
    ).to_arrow_table()
    seconds = time.perf_counter() - began
    assert out.num_rows == labels.num_rows
    con.close()
    return seconds


def online(svc: MlopsService, entities: int, reads: int, bare: Any) -> dict[str, Any]:
    """Materialise, then time `reads` single-entity online reads through the store and through the bare driver."""
    began = time.perf_counter()
    job = svc.materialize_job()
    materialise = time.perf_counter() - began
    rng = np.random.default_rng(2)
    keys = [f"e{i:07d}" for i in rng.integers(0, entities, reads)]
    ours, raw = [], []
    for key in keys:
        began = time.perf_counter()
        svc.features.online("customer", [key])
        ours.append(time.perf_counter() - began)
        began = time.perf_counter()
        bare(key)
        raw.append(time.perf_counter() - began)
    ours.sort()
    raw.sort()
    return {
        "materialize_s": round(materialise, 2),
        "entities": job.result["entities"],
        "read_p50_ms": round(ours[len(ours) // 2] * 1000, 3),
        "read_p99_ms": round(ours[int(len(ours) * 0.99)] * 1000, 3),
        "bare_driver_p50_ms": round(raw[len(raw) // 2] * 1000, 3),
    }


def serving(home: Path, history: pa.Table, entities: int, reads: int) -> dict[str, Any]:
    """Online-read figures on the embedded store and, when it can be started, Redis."""
    import sqlite3

    out: dict[str, Any] = {}
    settings = Settings(store=f"sqlite:///{home / 'online.db'}", objects=f"file://{home / 'online-objects'}")
    with Runtime.open(settings) as runtime:
        svc = MlopsService(runtime)
        svc.features.define("customer", "customer_id", {f: "float64" for f in FEATURES})
        svc.features.ingest("customer", history)
        con = sqlite3.connect(home / "online.db")
        sql = "SELECT event_us, features FROM mlops_online WHERE tenant_id = ? AND view = ? AND entity_id = ?"
        tenant = current_tenant()
        out["embedded"] = online(svc, entities, reads, lambda k: con.execute(sql, (tenant, "customer", k)).fetchone())
        con.close()
        log(f"online, embedded: {out['embedded']}")
    try:
        with ephemeral_redis() as url:
            import redis

            redis_settings = Settings(store=settings.store, objects=settings.objects, cache=url)
            with Runtime.open(redis_settings) as runtime:
                client = redis.Redis.from_url(url, decode_responses=True)
                key = 'datastrata:mlops:["%s","customer","%s"]'
                tenant = current_tenant()
                svc = MlopsService(runtime)
                with runtime.transaction(svc.features._scope("customer")) as work:
                    work.execute("DELETE FROM mlops_materialized")  # materialise the same parts again, into Redis
                out["redis"] = online(svc, entities, reads, lambda k: client.hmget(key % (tenant, k), "t", "v"))
                client.close()
            log(f"online, redis: {out['redis']}")
    except ServerUnavailable as exc:
        out["redis"] = f"skipped: {exc}"
    return out


def run(quick: bool) -> dict[str, Any]:
    """Measure the training set and its floor; return the figures."""
    labels_n, entities, per_entity, rounds = (100_000, 10_000, 10, 3) if quick else (1_000_000, 100_000, 10, 3)
    history, labels = tables(labels_n, entities, per_entity)
    with tempfile.TemporaryDirectory(prefix="datastrata-bench-mlops-") as tmp:
        home = Path(tmp)
        settings = Settings(store=f"sqlite:///{home / 'mlops.db'}", objects=f"file://{home / 'objects'}")
        with Runtime.open(settings) as runtime:
            svc = MlopsService(runtime)
            svc.features.define("customer", "customer_id", {f: "float64" for f in FEATURES})
            began = time.perf_counter()
            svc.features.ingest("customer", history)
            ingest = time.perf_counter() - began
            log(f"ingested {history.num_rows} rows in {ingest:.2f}s")
            ours, floors = [], []
            for r in range(rounds):
                began = time.perf_counter()
                result = svc.features.training_set(["customer"], labels)
                ours.append(time.perf_counter() - began)
                floors.append(floor(history, labels))
                log(f"round {r + 1}: training set {ours[-1]:.2f}s, floor {floors[-1]:.2f}s")
            filled = result.num_rows - result.column("f0").null_count
            parquet = sum(o.size for o in svc.objects.list("mlops/features/"))
        served = serving(home, history, entities, 2000)
    seconds, base = statistics.median(ours), statistics.median(floors)
    return {
        "labels": labels_n,
        "features": len(FEATURES),
        "history_rows": history.num_rows,
        "history_parquet_mb": round(parquet / 1e6, 1),
        "rounds": rounds,
        "ingest_s": round(ingest, 2),
        "training_set_s": round(seconds, 2),
        "floor_asof_only_s": round(base, 2),
        "over_floor": round(seconds / base, 2),
        "labels_with_values": filled,
        "goal_training_set_s": 10,
        "goal_met": seconds <= 10,
        "online": served,
    }


def main() -> None:
    """Run the comparison and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k labels instead of 1M")
    args = parser.parse_args()
    json.dump(run(args.quick), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
