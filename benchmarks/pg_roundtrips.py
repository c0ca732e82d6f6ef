"""Round trips per command on PostgreSQL, and commands/s beside the raw one-row commit floor of the same run.

For each command (match goal, portfolio deposit, master-data put, food order) the script counts the round trips
one command makes, through a loopback proxy that counts client bursts (``datastrata.testing.roundtrips``), then
measures commands/s straight to the server, interleaved with the floor: one JSON row per transaction through
psycopg (BEGIN, INSERT, COMMIT: three round trips, one commit flush). With ``--latency MS`` it also runs both
through the proxy holding every server answer MS milliseconds: what the round trips cost across a network.

    .venv/bin/python benchmarks/pg_roundtrips.py --quick      # about a minute; JSON on stdout
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.systems.food.service import FoodService, install
from datastrata.systems.masterdata.service import MasterDataService
from datastrata.systems.match import simulate
from datastrata.systems.match.service import MatchService
from datastrata.systems.portfolio.service import PortfolioService
from datastrata.tenancy.secrets import temporary_key
from datastrata.testing.roundtrips import counting
from datastrata.testing.servers import create_database, ephemeral_postgres, migrated

NOW = datetime(2025, 10, 1, 12, tzinfo=UTC)


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


@dataclass
class Scenario:
    """One command to repeat: `prepare` sets up what it needs on a runtime and returns the call for step i."""

    name: str
    prepare: Callable[[Runtime, Path], Callable[[int], object]]


def _match_goal(runtime: Runtime, work: Path) -> Callable[[int], object]:
    svc = MatchService(runtime)
    simulate.ensure_reference_data(svc)
    match_id = f"RT-{time.monotonic_ns()}"
    home, away = simulate.TEAMS[0][0], simulate.TEAMS[1][0]
    svc.start(match_id, home, away, simulate.REFEREES[0][0], list(range(1, 12)), list(range(1, 12)))
    return lambda i: svc.goal(match_id, f"{home}-9", minute=10)


def _portfolio_deposit(runtime: Runtime, work: Path) -> Callable[[int], object]:
    svc = PortfolioService(runtime)
    portfolio = f"rt-{time.monotonic_ns()}"
    return lambda i: svc.deposit(portfolio, Decimal("10.00"))


def _masterdata_put(runtime: Runtime, work: Path) -> Callable[[int], object]:
    svc: MasterDataService = runtime.service("masterdata", MasterDataService)
    base = time.monotonic_ns()
    attributes = {"name": "Alice", "email": "a@example.com", "address": "Tokyo", "credit_tier": "gold"}
    return lambda i: svc.put("customer", f"C{base}-{i}", attributes, actor="bench")


def _food_order(runtime: Runtime, work: Path) -> Callable[[int], object]:
    svc: FoodService = install(runtime)
    tag = time.monotonic_ns()
    user, shop = f"u{tag}", f"r{tag}"
    svc.add_user(user, lat=35.658, lon=139.7016)
    svc.add_restaurant(shop, name="Ichiran", lat=35.6614, lon=139.7006, cuisines=["Ramen"])
    svc.add_menu_item(shop, f"dish{tag}", name="Tonkotsu", price="980", ingredients=["pork"])
    return lambda i: svc.place_order(user, shop, items=[f"dish{tag}"], at=NOW + timedelta(seconds=i))


SCENARIOS = [
    Scenario("match_goal", _match_goal),
    Scenario("portfolio_deposit", _portfolio_deposit),
    Scenario("masterdata_put", _masterdata_put),
    Scenario("food_order", _food_order),
]


@contextmanager
def opened(store: str, direct: str, work: Path) -> Iterator[Runtime]:
    """A runtime on `store`; its NOTIFYs go to `direct` (the server itself), so a proxy sees commands only."""
    settings = Settings(store=store, direct_store=direct, graph=f"ladybug:///{work / 'graph'}")
    with Runtime.open(settings, clock=FrozenClock(NOW)) as runtime:
        yield runtime


def raw_commit(conn: psycopg.Connection[Any], i: int) -> None:
    """The floor: one JSON row in its own transaction."""
    with conn.transaction():
        conn.execute("INSERT INTO raw (body) VALUES (%s)", (json.dumps({"n": i, "player": "ARG-9", "minute": 10}),))


def rate(call: Callable[[int], object], count: int, start: int) -> float:
    """Calls per second over `count` calls."""
    began = time.perf_counter()
    for i in range(start, start + count):
        call(i)
    return count / (time.perf_counter() - began)


def round_trips(url: str, work: Path, scenario: Scenario, count: int) -> float:
    """Round trips per command of `scenario`, counted by a proxy over `count` commands after a warm-up."""
    with counting(url) as proxy, opened(proxy.url(url), url, work) as runtime:
        call = scenario.prepare(runtime, work)
        for i in range(10):  # prepared statements, pool connection, caches
            call(i)
        before = proxy.round_trips
        for i in range(10, 10 + count):
            call(i)
        return (proxy.round_trips - before) / count


def raw_round_trips(url: str, count: int) -> float:
    """Round trips per raw one-row commit, counted the same way."""
    with counting(url) as proxy, psycopg.connect(proxy.url(url), autocommit=True) as conn:
        raw_commit(conn, 0)
        before = proxy.round_trips
        for i in range(count):
            raw_commit(conn, i)
        return (proxy.round_trips - before) / count


def throughput(url: str, work: Path, scenario: Scenario, count: int, rounds: int) -> tuple[float, float]:
    """Best-of-`rounds` commands/s of `scenario` and of the raw floor, the two interleaved round by round."""
    best, floor = 0.0, 0.0
    with opened(url, url, work) as runtime, psycopg.connect(url, autocommit=True) as conn:
        call = scenario.prepare(runtime, work)
        rate(call, 20, 0)
        rate(lambda i: raw_commit(conn, i), 20, 0)
        for r in range(rounds):
            start = 100 + r * count
            best = max(best, rate(call, count, start))
            floor = max(floor, rate(lambda i: raw_commit(conn, i), count, start))
    return best, floor


def over_latency(url: str, work: Path, scenario: Scenario, count: int, latency: float) -> tuple[float, float]:
    """Commands/s of `scenario` and of the floor through the proxy with `latency` seconds per round trip."""
    with counting(url, latency=latency) as proxy:
        return throughput(proxy.url(url), work, scenario, count, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer commands; under a minute")
    parser.add_argument("--latency", type=float, default=0.0, help="also run through the proxy with MS per trip")
    parser.add_argument("--only", default="", help="comma-separated scenario names (default: all)")
    args = parser.parse_args()
    count, rounds, counted = (100, 2, 20) if args.quick else (500, 3, 100)
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only.split(",")]
    figures: list[dict[str, Any]] = []
    with temporary_key(), tempfile.TemporaryDirectory() as tmp, ephemeral_postgres(fsync=True) as base:
        url = migrated(create_database(base, "roundtrips_bench"))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS raw (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)")
        raw_trips = raw_round_trips(url, counted)
        for scenario in chosen:
            work = Path(tmp) / scenario.name
            work.mkdir()
            trips = round_trips(url, work / "count", scenario, counted)
            best, floor = throughput(url, work / "rate", scenario, count, rounds)
            entry: dict[str, Any] = {
                "name": scenario.name,
                "round_trips_per_command": round(trips, 2),
                "raw_round_trips": round(raw_trips, 2),
                "commands_per_s": round(best, 1),
                "raw_one_row_commit_per_s": round(floor, 1),
                "vs_raw": round(best / floor, 2),
            }
            if args.latency:
                slow, slow_floor = over_latency(url, work / "slow", scenario, max(count // 4, 20), args.latency / 1000)
                entry |= {
                    "latency_ms": args.latency,
                    "commands_per_s_at_latency": round(slow, 1),
                    "raw_per_s_at_latency": round(slow_floor, 1),
                    "vs_raw_at_latency": round(slow / slow_floor, 2),
                }
            log(f"{scenario.name}: {trips:.1f} round trips, {best:,.0f}/s against raw {floor:,.0f}/s")
            figures.append(entry)
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    out = {
        "benchmark": "pg_roundtrips",
        "quick": args.quick,
        "count": count,
        "rounds": rounds,
        "loadavg": load,
        "cpus": os.cpu_count(),
        "figures": figures,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
