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
default 100 one way). With ``--processes`` each region runs as its own process (``datastrata trading up``), the
link a socket between them: reads and orders go over HTTP to the processes, Singapore reports the staleness of what
it applied. Wall-clock figures: run on a quiet host.

Usage::

    .venv/bin/python benchmarks/trading.py                 # 10 s at 200 orders/s, about 40 s in all
    .venv/bin/python benchmarks/trading.py --seconds 3     # a quick look
    .venv/bin/python benchmarks/trading.py --processes     # each region its own process
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
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
from datastrata.systems.trading.topology import NEW_YORK, SINGAPORE
from datastrata.systems.trading.wire import RegionClient, running

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


def _paced(total: int, rate: float, place: Callable[[int], object]) -> float:
    """Call `place(i)` for i < `total` at `rate` per second from a pool of clients; the seconds it took."""
    begun = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as clients:  # orders keep their pace while a commit waits
        placed = []
        for i in range(total):
            wait = begun + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            placed.append(clients.submit(place, i))
        for future in placed:
            future.result()
    return time.perf_counter() - begun


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
    carried: list[float] = []  # the business event's commit → Singapore's commit (the forwarder and the link)
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
            carried.extend(total - part for total, part in zip(late, inner, strict=True))

    svc.singapore.observe = observe
    svc.start()
    total = int(rate * seconds)
    placed_in = _paced(total, rate, lambda i: svc.order(users[i % len(users)], "AAPL", "1", str(100 + i % 50),
                                                       side="buy"))  # fmt: skip
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
        "forwarding_p50_ms": round(statistics.median(carried), 1),
        "forwarding_p99_ms": round(_percentile(carried, 0.99), 1),
    }


def _start(home: Path, region: str, latency_ms: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATASTRATA_STORE": f"sqlite:///{home / 'datastrata.db'}"}
    command = [sys.executable, "-m", "datastrata", "trading", "up", "--region", region, "--latency-ms", str(latency_ms)]
    child = subprocess.Popen(command, env=env, cwd=home, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while running(home / "trading", region) is None:
        if child.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{region} did not come up")
        time.sleep(0.05)
    return child


def processes(args: argparse.Namespace) -> dict[str, Any]:
    """The same figures with each region its own process (``trading up``), the link a socket between them."""
    with tempfile.TemporaryDirectory(prefix="datastrata-trading-up-bench-") as folder:
        home = Path(folder)
        children = [_start(home, region, args.latency_ms) for region in (NEW_YORK, SINGAPORE)]
        try:
            ny, sg = RegionClient(home / "trading", NEW_YORK), RegionClient(home / "trading", SINGAPORE)
            users = [f"u{i:05d}" for i in range(args.users)]
            for user in users:
                ny.post("/deposits", {"user": user, "amount": "1000000000"})
            order = {"symbol": "AAPL", "quantity": "1", "side": "buy"}
            sg.post("/orders", {**order, "user": users[0], "price": "100"})
            _drain(ny, sg)
            sg.get("/staleness")  # forget the warm-up's samples
            local = _timed(lambda: sg.get(f"/positions/{users[0]}"), args.local_reads)
            over = _timed(lambda: sg.get(f"/accounts/{users[0]}"), args.remote_reads)
            total = int(args.rate * args.seconds)
            placed_in = _paced(total, args.rate, lambda i: ny.post(
                "/orders", {**order, "user": users[i % len(users)], "price": str(100 + i % 50)}))  # fmt: skip
            _drain(ny, sg)
            seen = sg.get("/staleness")["staleness_ms"]
        finally:
            for child in children:
                child.terminate()
                child.wait(30)
    return {
        "reads_over_http": {"singapore_local": _summary(local), "new_york_over_link": _summary(over)},
        "staleness": {
            "orders": total, "orders_per_s_achieved": round(total / placed_in, 1),
            "p50_ms": round(statistics.median(seen), 1), "p99_ms": round(_percentile(seen, 0.99), 1),
            "max_ms": round(max(seen), 1), "samples": len(seen), "goal_p99_ms": args.latency_ms + 250,
        },
    }  # fmt: skip


def _drain(ny: RegionClient, sg: RegionClient, timeout: float = 120) -> None:
    """Wait until New York has enriched and forwarded everything and Singapore answered it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = ny.get("/status")
        if status["enriched"] and status["pending"] == 0:
            return
        time.sleep(0.05)
    raise SystemExit("Singapore did not catch up")


def main() -> None:
    """Run both figures and print them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=100.0, help="one-way link latency")
    parser.add_argument("--rate", type=float, default=200.0, help="orders per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long orders are placed")
    parser.add_argument("--users", type=int, default=200, help="accounts the orders go to")
    parser.add_argument("--local-reads", type=int, default=2000)
    parser.add_argument("--remote-reads", type=int, default=20)
    parser.add_argument("--processes", action="store_true", help="each region its own process (trading up)")
    args = parser.parse_args()
    if args.processes:
        print(json.dumps({"benchmark": "trading", "mode": "processes", "latency_ms": args.latency_ms,
                          "host": {"python": platform.python_version(), "cpus": os.cpu_count()},
                          **processes(args)}, indent=2))  # fmt: skip
        return
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
            "mode": "one process",
            "host": {"python": platform.python_version(), "cpus": os.cpu_count()},
            "latency_ms": args.latency_ms,
            "shards": len(svc.new_york.placement.shards),
            "reads": reads(svc, users, args.local_reads, args.remote_reads),
            "staleness": staleness(svc, users, args.rate, args.seconds),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
