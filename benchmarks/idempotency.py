"""What the idempotency rule costs a command: keyed and replayed deposits beside plain ones, on a long stream.

Portfolio deposits through ``PortfolioService`` on one SQLite file (or ``--store URL``), interleaved in rounds so
the machine's drift hits all alike:

- ``plain``: no key (the peer);
- ``keyed``: a new key each time (one index probe and one insert more in the same transaction);
- ``replay``: the same key and content again (the stored result, nothing written).

Each runs on a portfolio whose stream already holds ``--events`` events (default 2000): before the one rule, a
keyed command replayed that whole stream with snapshots off; now it reads the latest snapshot like any command.
Reported as commands/s and as ratios to ``plain`` measured in the same rounds.

Usage::

    .venv/bin/python benchmarks/idempotency.py            # 5 rounds of 1 s per way
    .venv/bin/python benchmarks/idempotency.py --quick    # 2 rounds of 0.5 s, 500 prior events
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

from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.systems.portfolio.service import PortfolioService


def _rate(command: Callable[[int], object], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    stop = start + seconds
    while time.perf_counter() < stop:
        command(count)
        count += 1
    return count / (time.perf_counter() - start)


def measure(store: str, *, events: int, rounds: int, seconds: float) -> dict[str, object]:
    """Return commands/s of each way, the median of `rounds`, and their ratios to ``plain``."""
    with Runtime.open(Settings(store=store)) as runtime:
        svc = PortfolioService(runtime)
        for n in range(events):
            svc.deposit("long", "1", event_id=f"prior-{n}")
        svc.deposit("long", "1", event_id="again")
        ways: dict[str, Callable[[int], object]] = {
            "plain": lambda n: svc.deposit("long", "1"),
            "keyed": lambda n: svc.deposit("long", "1", event_id=f"k-{time.monotonic_ns()}-{n}"),
            "replay": lambda n: svc.deposit("long", "1", event_id="again"),
        }
        rates: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(rounds):
            for name, way in ways.items():
                rates[name].append(_rate(way, seconds))
    medians = {name: statistics.median(r) for name, r in rates.items()}
    return {
        "prior_events": events,
        "commands_per_s": {k: round(v, 1) for k, v in medians.items()},
        "ratio_to_plain": {k: round(v / medians["plain"], 2) for k, v in medians.items()},
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 0.5 s, 500 prior events")
    parser.add_argument("--store", help="store URL (default: a fresh SQLite file)")
    parser.add_argument("--events", type=int, default=None, help="events already in the stream")
    args = parser.parse_args(argv)
    events = args.events if args.events is not None else (500 if args.quick else 2000)
    rounds, seconds = (2, 0.5) if args.quick else (5, 1.0)
    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or f"sqlite:///{Path(tmp) / 'idempotency.db'}"
        result = measure(store, events=events, rounds=rounds, seconds=seconds)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
