"""PostgreSQL appends with 1 and 4 writer *processes* (no shared GIL): datastrata beside a raw psycopg loop.

Each writer process appends one event per transaction to its own streams for a fixed time; the figure is events/s
summed over the writers. The ratio that matters is 4 writers / 1 writer, for datastrata and for the raw driver on
the same server in the same run.

Usage::

    .venv/bin/python benchmarks/eventlog_writers.py            # 3 rounds of 4 s per configuration
    .venv/bin/python benchmarks/eventlog_writers.py --quick    # 1 round of 3 s
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

PAYLOAD = {"symbol": "AAPL", "quantity": "10", "price": "175.50", "note": "x" * 40}


def _datastrata_writer(url: str, k: int, seconds: float, out: Any) -> None:
    from datastrata.core.events import NewEvent
    from datastrata.eventlog import EventLog
    from datastrata.stores.open import open_database

    db = open_database(url)
    log = EventLog(db)
    log.append(f"warm-{k}", [NewEvent(type="T")])
    count, stop = 0, time.monotonic() + seconds
    while time.monotonic() < stop:
        log.append(f"w{k}-{count % 100}", [NewEvent(type="TradeBooked", payload=PAYLOAD)])
        count += 1
    out.put(count)
    db.close()


def _raw_writer(url: str, k: int, seconds: float, out: Any) -> None:
    import psycopg

    from datastrata.core.ids import new_id

    body = json.dumps(PAYLOAD)
    with psycopg.connect(url, autocommit=True) as conn:
        count, stop = 0, time.monotonic() + seconds
        while time.monotonic() < stop:
            now = datetime.now(UTC)
            with conn.transaction():
                conn.execute(
                    "INSERT INTO raw_events (stream_id, version, event_id, payload, recorded_at) "
                    "VALUES (%s, %s, %s, %s::jsonb, %s)",
                    (f"r{k}-{count % 100}", count, new_id(), body, now),
                )
            count += 1
        out.put(count)


def _rate(target: Any, url: str, writers: int, seconds: float) -> float:
    out: Any = mp.Queue()
    procs = [mp.Process(target=target, args=(url, k, seconds, out)) for k in range(writers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return sum(out.get() for _ in procs) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round of 3 s per configuration")
    args = parser.parse_args()
    rounds, seconds = (1, 3.0) if args.quick else (3, 4.0)

    import psycopg

    from datastrata.eventlog import EventLog
    from datastrata.stores.open import open_database
    from datastrata.testing.servers import create_database, ephemeral_postgres, migrated

    with ephemeral_postgres(fsync=True) as base:
        url = migrated(create_database(base, "writers"))
        EventLog(open_database(url)).db.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE raw_events (position BIGSERIAL PRIMARY KEY, stream_id TEXT NOT NULL, "
                "version INT NOT NULL, event_id TEXT NOT NULL UNIQUE, payload JSONB NOT NULL, "
                "recorded_at TIMESTAMPTZ NOT NULL, UNIQUE (stream_id, version))"
            )
        samples: dict[str, list[float]] = {"ds_1": [], "ds_4": [], "raw_1": [], "raw_4": []}
        for r in range(rounds):
            for name, target, writers in (
                ("ds_1", _datastrata_writer, 1),
                ("raw_1", _raw_writer, 1),
                ("ds_4", _datastrata_writer, 4),
                ("raw_4", _raw_writer, 4),
            ):
                samples[name].append(_rate(target, url, writers, seconds))
                print(f"round {r + 1}: {name} {samples[name][-1]:,.0f} events/s", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in samples.items()}
    figures = [
        {
            "name": "pg_writers_4_vs_1",
            "unit": "events/s",
            "datastrata_1_writer": round(med["ds_1"], 1),
            "datastrata_4_writers": round(med["ds_4"], 1),
            "datastrata_scaling": round(med["ds_4"] / med["ds_1"], 2),
            "raw_1_writer": round(med["raw_1"], 1),
            "raw_4_writers": round(med["raw_4"], 1),
            "raw_scaling": round(med["raw_4"] / med["raw_1"], 2),
            "goal": "datastrata_scaling >= 2.5",
        }
    ]
    print(json.dumps({"figures": figures, "mode": "quick" if args.quick else "full", "rounds": rounds}, indent=2))


if __name__ == "__main__":
    main()
