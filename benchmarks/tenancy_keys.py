"""What tenant keys cost the event log: one tenant's appends and stream reads in a log shared by 50 tenants.

Two fresh SQLite files (WAL, ``synchronous=NORMAL``), interleaved in rounds so the machine's drift hits both alike:

- ``alone``: a log holding one tenant with 50 x N streams (the peer);
- ``shared``: a log of the same size spread over 50 tenants of N streams each, all with the same stream ids.

Each round appends single events to the tenant's streams for a fixed time, then reads one 200-event stream again and
again. Reported as appends/s and stream reads/s (median of the rounds) and shared/alone: the per-tenant keys should
make a tenant's work independent of how many tenants share the log.

Usage::

    .venv/bin/python benchmarks/tenancy_keys.py            # 5 rounds of 1 s each
    .venv/bin/python benchmarks/tenancy_keys.py --quick    # 2 rounds of 0.5 s
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from datastrata.core.events import NewEvent
from datastrata.eventlog import EventLog
from datastrata.stores.open import open_database

TENANTS = 50
STREAM_EVENTS = 200


def _rate(work: Callable[[], object], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    stop = start + seconds
    while time.perf_counter() < stop:
        work()
        count += 1
    return count / (time.perf_counter() - start)


def _fill(log: EventLog, shared: bool, streams: int) -> None:
    """TENANTS x `streams` streams of STREAM_EVENTS events: one per tenant's ``stream-<s>``, or all of tenant t00."""
    for t in range(TENANTS):
        for s in range(streams):
            batch = [NewEvent(type="Filled", payload={"n": n}) for n in range(STREAM_EVENTS)]
            if shared:
                log.append(f"stream-{s}", batch, tenant=f"t{t:02d}")
            else:
                log.append(f"stream-{s}" if t == 0 else f"stream-{t}-{s}", batch, tenant="t00")


def _appender(log: EventLog) -> Callable[[], object]:
    """Single-event appends of tenant ``t00`` over 100 streams."""
    counter = iter(range(10**9))

    def append() -> object:
        n = next(counter)
        return log.append(f"new-{n % 100}", [NewEvent(type="Added", payload={"n": n})], tenant="t00")

    return append


def run(quick: bool) -> dict[str, object]:
    """Return appends/s and stream reads/s of one tenant alone and among 50, and their ratios."""
    rounds, seconds = (2, 0.5) if quick else (5, 1.0)
    streams = 4 if quick else 20
    with tempfile.TemporaryDirectory() as tmp:
        logs = {}
        for name in ("alone", "shared"):
            log = EventLog(open_database(f"sqlite:///{Path(tmp) / name}.db?synchronous=NORMAL"))
            _fill(log, name == "shared", streams)
            logs[name] = log
        appends: dict[str, list[float]] = {name: [] for name in logs}
        reads: dict[str, list[float]] = {name: [] for name in logs}
        for _ in range(rounds):
            for name, log in logs.items():
                appends[name].append(_rate(_appender(log), seconds))
                reads[name].append(_rate(lambda log=log: log.read("stream-0", tenant="t00"), seconds))  # type: ignore[misc]
        for log in logs.values():
            log.db.close()
    append_rate = {name: statistics.median(v) for name, v in appends.items()}
    read_rate = {name: statistics.median(v) for name, v in reads.items()}
    return {
        "tenants": TENANTS,
        "events_in_each_log": TENANTS * streams * STREAM_EVENTS,
        "appends_per_s": {k: round(v) for k, v in append_rate.items()},
        "stream_reads_per_s": {k: round(v) for k, v in read_rate.items()},
        "append_shared_vs_alone": round(append_rate["shared"] / append_rate["alone"], 2),
        "read_shared_vs_alone": round(read_rate["shared"] / read_rate["alone"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 short rounds (a smoke run)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.quick), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
