"""Hotspots: what the load meter costs per operation, and how many seconds of skew pass before a hot key is reported.

``meter``: CPU time of one ``LoadMeter.record`` call (best of ``--repeats``), over a stream of 100k distinct keys (so
the heavy-hitter summary trims) and over 1k keys (no trims).

``transaction``: a ``by_shard`` runtime over 4 SQLite shard files, each transaction appending one event to a key's
stream, timed with the runtime's meter on and off (``runtime.meter = None``), the two interleaved in each repeat,
best of ``--repeats``, in wall time (fsync-bound: noisy on a shared host) and in CPU time; ``overhead`` and
``cpu_overhead`` are (on - off) / off, and ``meter_vs_tx`` one record call's CPU cost over a transaction's wall time.

``detection``: skew of one key at ``ratio`` times the key threshold over a uniform background, counted into a meter
on a simulated clock, flushed once a (simulated) second to a real SQLite home store and checked with
``read_load`` + ``detect`` after each flush: ``seconds`` of skew before the key is reported (the window's average
crosses the threshold after window / ratio seconds, plus up to a bucket and a flush). Only the key is reported,
never a background key (``false_positives``).

Usage::

    .venv/bin/python benchmarks/hotspots.py            # about a minute
    .venv/bin/python benchmarks/hotspots.py --quick    # fewer transactions and repeats
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path

from datastrata.core.config import Settings
from datastrata.core.events import NewEvent
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.sharding import JumpRouter
from datastrata.sharding.hotspots import Thresholds, detect
from datastrata.sharding.load import LoadMeter
from datastrata.sharding.loadstore import flush, read_load
from datastrata.sharding.placement import by_shard, route_key
from datastrata.sharding.shardmap import ShardMap
from datastrata.stores.open import open_database

SHARDS = [f"s{i}" for i in range(4)]


def meter_cost(repeats: int, distinct: int, calls: int = 100_000) -> float:
    """Best-of CPU nanoseconds of one record call over `distinct` keys."""
    keys = [f"user-{i % distinct}" for i in range(calls)]
    best = float("inf")
    for _ in range(repeats):
        meter = LoadMeter("bench", set(SHARDS))
        started = time.process_time()
        for n, key in enumerate(keys):
            meter.record(SHARDS[n & 3], key, writes=1, nbytes=20)
        best = min(best, (time.process_time() - started) / calls)
    return best * 1e9


def transactions(folder: Path, count: int, repeats: int) -> dict[str, float]:
    """Best-of wall microseconds per by_shard transaction with the meter on and off, interleaved."""
    home = LocationSpec("main", f"sqlite:///{folder}/home.db", "", "")
    shards = {s: LocationSpec(s, f"sqlite:///{folder}/{s}.db", "", "") for s in SHARDS}
    placement = by_shard(JumpRouter(SHARDS), shards, home, contexts=["ledger"])
    settings = Settings(store=home.store, graph=f"ladybug:///{folder}/graph")
    best = {"on": float("inf"), "off": float("inf")}
    cpu = {"on": float("inf"), "off": float("inf")}
    with Runtime.open(settings, placement=placement) as runtime:
        meter = runtime.meter
        keys = [f"user-{i}" for i in range(500)]
        for n in range(200):  # warm every shard's connection and statements
            with runtime.transaction(Scope("ledger", keys[n % 500])) as work:
                work.append([NewEvent("Credited", {"amount": n})])
        for repeat in range(repeats):
            for mode in ("on", "off") if repeat % 2 == 0 else ("off", "on"):
                runtime.meter = meter if mode == "on" else None
                started, used = time.perf_counter(), time.process_time()
                for n in range(count):
                    with runtime.transaction(Scope("ledger", keys[n % 500])) as work:
                        work.append([NewEvent("Credited", {"amount": n})])
                best[mode] = min(best[mode], (time.perf_counter() - started) / count)
                cpu[mode] = min(cpu[mode], (time.process_time() - used) / count)
        runtime.meter = meter
    return {
        "on_us": best["on"] * 1e6,
        "off_us": best["off"] * 1e6,
        "on_cpu_us": cpu["on"] * 1e6,
        "off_cpu_us": cpu["off"] * 1e6,
    }


def detection(folder: Path, ratio: float, *, threshold: float = 100.0, background: float = 2000.0) -> dict[str, object]:
    """Simulated seconds of skew at `ratio` x `threshold` ops/s before detect reports the key."""
    db = open_database(f"sqlite:///{folder}/detect-{ratio}.db")
    try:
        now = [10_000.0]
        meter = LoadMeter("bench", set(SHARDS), clock=lambda: now[0])
        shard_map = ShardMap(JumpRouter(SHARDS))
        rng = random.Random(1)
        limits = Thresholds(key_qps=threshold, range_qps=1e9)
        tick = 0.001
        per_tick = max(1, round(background * tick))
        hot_shard = route_key(shard_map, "the-hot-key").shard
        warm = 15.0  # background alone first: the window is full of it when the skew starts
        start = now[0] + warm
        reported: float | None = None
        false: set[str] = set()
        hot_every = 1.0 / (ratio * threshold)
        next_hot = start
        next_flush = now[0] + 1.0
        while reported is None and now[0] < start + 60:
            now[0] += tick
            for _ in range(per_tick):
                key = f"bg-{rng.randrange(50_000)}"
                meter.record(route_key(shard_map, key).shard, key, reads=1)
            while now[0] >= next_hot:
                meter.record(hot_shard, "the-hot-key", writes=1, nbytes=16)
                next_hot += hot_every
            if now[0] >= next_flush:
                next_flush += 1.0
                flush(db, meter, "bench")
                hot = detect(read_load(db, "bench", window=meter.window, clock=lambda: now[0]), shard_map, limits)
                false |= {h.key for h in hot if h.key != "the-hot-key" and h.key is not None}
                if any(h.key == "the-hot-key" for h in hot) and now[0] >= start:
                    reported = now[0] - start
        return {
            "ratio": ratio,
            "seconds": None if reported is None else round(reported, 2),
            "expected_about": round(meter.window / ratio, 2),
            "false_positives": sorted(false),
        }
    finally:
        db.close()


def main() -> None:
    """Print the measurements as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Fewer transactions and repeats.")
    parser.add_argument("--repeats", type=int, default=0, help="Best of how many runs (default 5, quick 3).")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 5)
    count = 300 if args.quick else 1000
    load_start = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="datastrata-hotspots-") as tmp:
        folder = Path(tmp)
        record_many = meter_cost(repeats, 100_000)
        record_few = meter_cost(repeats, 1_000)
        tx = transactions(folder, count, repeats)
        detected = [detection(folder, ratio) for ratio in (1.5, 2.0, 4.0, 10.0)]
    report = {
        "benchmark": "hotspots",
        "mode": "quick" if args.quick else "full",
        "meter": {"record_ns_100k_keys": round(record_many), "record_ns_1k_keys": round(record_few)},
        "transaction": {
            "count": count,
            "meter_on_us": round(tx["on_us"], 1),
            "meter_off_us": round(tx["off_us"], 1),
            "overhead": round((tx["on_us"] - tx["off_us"]) / tx["off_us"], 4),
            "meter_on_cpu_us": round(tx["on_cpu_us"], 1),
            "meter_off_cpu_us": round(tx["off_cpu_us"], 1),
            "cpu_overhead": round((tx["on_cpu_us"] - tx["off_cpu_us"]) / tx["off_cpu_us"], 4),
            "meter_vs_tx": round(record_many / 1000 / tx["off_us"], 4),
        },
        "detection": {"threshold_qps": 100.0, "background_qps": 2000.0, "window_s": 10.0, "runs": detected},
        "repeats": repeats,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_start": load_start,
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
            "wall_s": round(time.perf_counter() - started, 1),
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
