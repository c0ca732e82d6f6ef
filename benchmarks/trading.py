"""The trading system's two figures: a Singapore read against the same read from New York over the link, and the
staleness from New York's commit to Singapore's read model under a steady order rate.

- ``reads``: p50 and p99 of Singapore's local positions read (its own store, no link) against New York's record of
  the same account read from Singapore (one round trip over the link) and read in New York itself (no link: the
  floor of a strong read). ``over_link_vs_local`` is the ratio of the p50s.
- ``staleness``: orders placed in New York at ``--rate`` per second (default 200) for ``--seconds`` over
  ``--users`` accounts on 4 SQLite shards, enrichment and forwarders running in the background as the worker runs
  them; for every ``PortfolioValueUpdated`` Singapore applies, the time from the raw trade's commit in New York to
  Singapore's commit. Goal: p99 ≤ link latency + 250 ms.

Everything runs in one process on embedded SQLite files, the link a latency-injecting transport (``--latency-ms``,
default 100 one way). Wall-clock figures: run on a quiet host.

Usage::

    .venv/bin/python benchmarks/trading.py                 # 10 s at 200 orders/s, about 40 s in all
    .venv/bin/python benchmarks/trading.py --seconds 3     # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from datastrata.core.config import Settings
from datastrata.core.events import Event
from datastrata.runtime import Runtime
from datastrata.systems.trading.domain import PORTFOLIO_VALUED
from datastrata.systems.trading.service import TradingService

#: Client threads placing the paced orders.
CLIENTS = 8


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _timed(call: Callable[[], object], count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _summary(times: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(times), 3), "p99_ms": round(_percentile(times, 0.99), 3),
            "samples": len(times)}  # fmt: skip


def reads(svc: TradingService, users: list[str], local: int, remote: int) -> dict[str, Any]:
    """Singapore's local read against New York's read over the link, and New York's read at home."""
    user = users[0]
    singapore = _timed(lambda: svc.positions(user), local)
    new_york = _timed(lambda: svc.account(user, region="new-york"), local)
    over_link = _timed(lambda: svc.account(user, region="singapore"), remote)
    out: dict[str, Any] = {
        "singapore_local": _summary(singapore),
        "new_york_local": _summary(new_york),
        "new_york_over_link": _summary(over_link),
    }
    out["over_link_vs_local"] = round(out["new_york_over_link"]["p50_ms"] / out["singapore_local"]["p50_ms"], 1)
    return out


def staleness(svc: TradingService, users: list[str], rate: float, seconds: float) -> dict[str, Any]:
    """Orders at `rate` per second; New York commit → Singapore commit per portfolio update."""
    seen: list[float] = []
    enriched: list[float] = []  # the raw trade's commit → the business event's commit (New York's enrichment)
    lock = threading.Lock()

    def observe(events: Sequence[Event]) -> None:
        now = datetime.now(UTC)
        valued = [e for e in events if e.type == PORTFOLIO_VALUED]
        late = [(now - datetime.fromisoformat(str(e.metadata["source_at"]))).total_seconds() * 1000 for e in valued]
        inner = [(e.recorded_at - datetime.fromisoformat(str(e.metadata["source_at"]))).total_seconds() * 1000
                 for e in valued]  # fmt: skip
        with lock:
            seen.extend(late)
            enriched.extend(inner)

    svc.singapore.observe = observe
    svc.start()
    total = int(rate * seconds)
    begun = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as clients:  # orders keep their pace while a commit waits
        placed = []
        for i in range(total):
            due = begun + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            user = users[i % len(users)]
            placed.append(clients.submit(svc.order, user, "AAPL", "1", str(100 + i % 50), side="buy"))
        for future in placed:
            future.result()
    placed_in = time.perf_counter() - begun
    svc.catch_up(timeout=120)
    svc.stop()
    svc.singapore.observe = None
    return {
        "orders": total,
        "orders_per_s_target": rate,
        "orders_per_s_achieved": round(total / placed_in, 1),
        "p50_ms": round(statistics.median(seen), 1),
        "p99_ms": round(_percentile(seen, 0.99), 1),
        "max_ms": round(max(seen), 1),
        "samples": len(seen),
        "goal_p99_ms": svc.link.state().latency_ms + 250,
        "enrichment_p50_ms": round(statistics.median(enriched), 1),
        "enrichment_p99_ms": round(_percentile(enriched, 0.99), 1),
    }


def main() -> None:
    """Run both figures and print them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=100.0, help="one-way link latency")
    parser.add_argument("--rate", type=float, default=200.0, help="orders per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long orders are placed")
    parser.add_argument("--users", type=int, default=200, help="accounts the orders go to")
    parser.add_argument("--local-reads", type=int, default=2000)
    parser.add_argument("--remote-reads", type=int, default=20)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="datastrata-trading-bench-") as home,
        Runtime.open(Settings.embedded(Path(home))) as runtime,
    ):
        svc = TradingService(runtime, latency_ms=args.latency_ms)
        users = [f"u{i:05d}" for i in range(args.users)]
        for user in users:
            svc.deposit(user, "1000000000")
        svc.order(users[0], "AAPL", "1", "100", side="buy")
        svc.settle()
        svc.tick(2000)
        result = {
            "benchmark": "trading",
            "host": {"python": platform.python_version(), "cpus": os.cpu_count()},
            "latency_ms": args.latency_ms,
            "shards": len(svc.new_york.placement.shards),
            "reads": reads(svc, users, args.local_reads, args.remote_reads),
            "staleness": staleness(svc, users, args.rate, args.seconds),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
