"""The server under a real load generator: `datastrata serve` driven by wrk, beside a raw INSERT + COMMIT floor.

Starts ``datastrata serve`` on loopback on a fresh embedded home (SQLite at ``synchronous=FULL``, group commit on:
the defaults), seeds what the routes need and an API key, and drives it with wrk (Debian's ``/usr/bin/wrk``) through
``benchmarks/serve_load/routes.lua`` (POST bodies, a unique ``Idempotency-Key`` per request, the key's header,
percentiles as JSON). Per route and connection count (1, 8, 32): requests/s, p50/p90/p99, non-2xx responses
(wrk counts status >= 400) and socket errors, and the server's CPU ms per request (from ``/proc/PID/stat``).

Routes: a command and a query per system — portfolio deposit / state, match goal / TV view, master-data put / get,
food order / get order. The floor runs in the same run on the same server stack: ``benchmarks/serve_load/floor.py``
(a minimal FastAPI app served by ``uvicorn.run`` exactly as ``serve`` does, one raw INSERT + COMMIT per request into
a SQLite file in the same home at ``synchronous=FULL``, so one flush per request). The floor and the routes are
interleaved at each connection count, so the shared machine's drift hits both alike.

The soak (``--soak SECONDS``; 600 in the full run) drives every route in turn at half the routes' mean peak rate
(each of 8 connections paced by wrk's ``delay()``) and samples the server's resident memory and open file
descriptors from ``/proc/PID`` every few seconds; growth is measured after a warm-up (the first fifth).

Usage::

    .venv/bin/python benchmarks/serve_load.py             # 5 s per run, 1/8/32 connections, a 600 s soak
    .venv/bin/python benchmarks/serve_load.py --quick     # 2 s per run, a 15 s soak (under 2 minutes)
    .venv/bin/python benchmarks/serve_load.py --seconds 1 --connections 2 --routes portfolio --soak 3
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.security.keys import KeyStore
from datastrata.systems.food.service import FoodService
from datastrata.systems.masterdata.service import MasterDataService
from datastrata.systems.match.service import MatchService
from datastrata.systems.portfolio.service import PortfolioService

HERE = Path(__file__).resolve().parent / "serve_load"
LUA = HERE / "routes.lua"
FLOOR = HERE / "floor.py"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
#: Aggregates each command route spreads over (so requests on one connection rarely hit the same one).
SLOTS = 64
MATCHES = 8
LINEUP = list(range(1, 12))
#: Personal fields (master data's) are sealed with keys wrapped by this secret: one fresh secret per run.
SECRET = "DATASTRATA_TENANT_SECRET_KEY"


@dataclass(frozen=True, slots=True)
class Route:
    """One HTTP route to drive: its system, whether it writes, and the request template for routes.lua."""

    name: str
    kind: str  # "command" or "query"
    method: str
    path: str
    body: str = ""
    slots: int = 1

    def lua_args(self) -> list[str]:
        """Return the four routes.lua arguments of this route."""
        return [self.method, self.path, self.body, str(self.slots)]


ROUTES = [
    Route("portfolio.deposit", "command", "POST", "/portfolios/load-{slot}/deposits", '{"amount":"1.00"}', SLOTS),
    Route("portfolio.state", "query", "GET", "/portfolios/query-pf"),
    Route(
        "match.goal",
        "command",
        "POST",
        "/match/matches/load-{slot}/goals",
        '{"player":"HOM-10","minute":10}',
        MATCHES,
    ),
    Route("match.tv", "query", "GET", "/match/matches/query-match/tv"),
    Route(
        "masterdata.put",
        "command",
        "PUT",
        "/masterdata/customer/load-{slot}",
        '{"attributes":{"name":"Customer {id}"},"reason":"load"}',
        SLOTS,
    ),
    Route("masterdata.get", "query", "GET", "/masterdata/customer/query-customer"),
    Route(
        "food.order",
        "command",
        "POST",
        "/food/orders",
        '{"user_id":"load-{slot}","restaurant_id":"load-r","items":["load-i"],"order_id":"{id}"}',
        SLOTS,
    ),
    Route("food.order_get", "query", "GET", "/food/orders/query-order"),
]
FLOOR_ROUTE = Route("floor.insert", "floor", "POST", "/floor", '{"id":"{id}","amount":"1.00"}')


def seed(home: Path) -> str:
    """Create the home, everything the routes read or write, and an editor API key; return the key."""
    runtime = Runtime.open(Settings(store=f"sqlite:///{home}/datastrata.db"))
    try:
        from datastrata.catalog import install_all

        install_all(runtime)
        portfolio = PortfolioService(runtime)
        for _ in range(10):
            portfolio.deposit("query-pf", "10.00")
        match = MatchService(runtime)
        for team in ("HOM", "AWY"):
            match.register_team(team, f"Team {team}")
            for number in LINEUP:
                match.register_player(team, number, f"Player {team} {number}")
        match.register_referee("REF", "The Referee")
        for match_id in [f"load-{k}" for k in range(MATCHES)] + ["query-match"]:
            match.start(match_id, "HOM", "AWY", "REF", LINEUP, LINEUP)
        match.goal("query-match", "HOM-10", minute=5)
        master = MasterDataService(runtime)
        master.put("customer", "query-customer", {"name": "Query Customer"}, actor="serve_load")
        food = FoodService(runtime)
        for k in range(SLOTS):
            food.add_user(f"load-{k}", lat=35.68, lon=139.76)
        food.add_restaurant("load-r", name="Load Kitchen", lat=35.69, lon=139.70, cuisines=["ramen"])
        food.add_menu_item("load-r", "load-i", name="Shoyu ramen", price="980.00")
        food.place_order("load-0", "load-r", items=["load-i"], order_id="query-order")
        _, key = KeyStore(runtime.db, clock=runtime.clock).create(role="editor", note="serve_load")
        return key
    finally:
        runtime.close()


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server(argv: Sequence[str], port: int, home: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process (its output to a log in `home`) until it answers /health; stop it with SIGINT after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASTRATA_")}
    env["DATASTRATA_STORE"] = f"sqlite:///{home}/datastrata.db"
    env[SECRET] = os.environ[SECRET]
    with open(home / f"{name}.log", "wb") as log:
        process = subprocess.Popen(list(argv), cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(process, port, home / f"{name}.log")
            yield process
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_healthy(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server on port {port} did not become healthy in 60 s: {log.read_text()[-2000:]}")


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds process `pid` has used (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(
    port: int,
    token: str,
    routes: Sequence[Route],
    *,
    connections: int,
    seconds: float,
    prefix: str,
    pause_ms: float = 0.0,
) -> dict[str, Any]:
    """Run wrk against `routes` (in turn) and return its figures: requests/s, percentiles in ms, errors."""
    threads = max(1, min(connections, 2))
    args = [token, prefix, f"{pause_ms:.3f}"] + [a for r in routes for a in r.lua_args()]
    command = [WRK, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "10s"]
    command += ["-s", str(LUA), f"http://127.0.0.1:{port}", "--", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("SERVE_LOAD ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-1000:]} {done.stderr[-1000:]}")
    raw = json.loads(line.split(" ", 1)[1])
    duration = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "requests_per_s": round(raw["requests"] / duration, 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "non_2xx": raw["non_2xx"],
        "socket_errors": {k: raw[k] for k in ("connect", "read", "write", "timeout")},
    }


def measure(
    pid: int, port: int, token: str, route: Route, connections: int, seconds: float, prefix: str
) -> dict[str, Any]:
    """Drive one route at `connections` and add the server's CPU ms per request."""
    before = cpu_seconds(pid)
    figures = drive(port, token, [route], connections=connections, seconds=seconds, prefix=prefix)
    cpu = cpu_seconds(pid) - before
    figures["server_cpu_ms_per_request"] = round(1000 * cpu / max(figures["requests"], 1), 3)
    return {"route": route.name, "kind": route.kind, "connections": connections, **figures}


def proc_sample(pid: int) -> tuple[int, int]:
    """Return the resident memory (KiB) and the number of open file descriptors of process `pid`."""
    rss = next(int(x.split()[1]) for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def soak(
    pid: int,
    port: int,
    token: str,
    routes: Sequence[Route],
    *,
    seconds: float,
    rate: float,
    latency_ms: float,
    every: float,
) -> dict[str, Any]:
    """Drive every route in turn at `rate` requests/s for `seconds`, sampling memory and descriptors `every` s.

    Each of 8 connections sends a request, waits for it (about `latency_ms`), then pauses the rest of its period.
    """
    connections = 8
    pause_ms = max(0.0, 1000 * connections / rate - latency_ms)
    args = [token, "soak", f"{pause_ms:.3f}"] + [a for r in routes for a in r.lua_args()]
    command = [WRK, "-t", "2", "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "10s"]
    command += ["-s", str(LUA), f"http://127.0.0.1:{port}", "--", *args]
    samples: list[tuple[float, int, int]] = []
    start = time.monotonic()
    load = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while load.poll() is None:
        rss, fds = proc_sample(pid)
        samples.append((round(time.monotonic() - start, 1), rss, fds))
        time.sleep(every)
    out, err = load.communicate()
    line = next((x for x in out.splitlines() if x.startswith("SERVE_LOAD ")), None)
    if load.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed in the soak ({load.returncode}): {out[-1000:]} {err[-1000:]}")
    raw = json.loads(line.split(" ", 1)[1])
    warm = max(1, len(samples) // 5)
    steady = samples[warm:] or samples[-1:]
    head, tail = steady[:3], steady[-3:]

    def growth(index: int) -> float:
        first = statistics.median(s[index] for s in head)
        last = statistics.median(s[index] for s in tail)
        return round(last / first - 1, 4)

    return {
        "seconds": seconds,
        "target_requests_per_s": round(rate, 1),
        "requests_per_s": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "non_2xx": raw["non_2xx"],
        "socket_errors": {k: raw[k] for k in ("connect", "read", "write", "timeout")},
        "samples": len(samples),
        "warm_up_samples": warm,
        "rss_kib": {
            "start": samples[0][1],
            "after_warm_up": steady[0][1],
            "max": max(s[1] for s in steady),
            "end": samples[-1][1],
        },
        "fds": {
            "start": samples[0][2],
            "after_warm_up": steady[0][2],
            "max": max(s[2] for s in steady),
            "end": samples[-1][2],
        },
        "series_s_rss_kib_fds": samples[:: max(1, len(samples) // 20)] + samples[-1:],
        "rss_growth_after_warm_up": growth(1),
        "fd_growth_after_warm_up": growth(2),
        "goal": "rss_growth_after_warm_up <= 0.10 and fd_growth_after_warm_up <= 0.10",
    }


def goals(runs: list[dict[str, Any]], connections: Sequence[int]) -> dict[str, Any]:
    """Return the issue's goals against this run's figures."""
    top = max(connections)
    floor = next((r["requests_per_s"] for r in runs if r["kind"] == "floor" and r["connections"] == top), None)
    ratios = {
        r["route"]: round(r["requests_per_s"] / floor, 2)
        for r in runs
        if r["kind"] == "command" and r["connections"] == top and floor
    }
    p99 = {r["route"]: r["p99_ms"] for r in runs if r["kind"] != "floor" and r["connections"] == 8}
    errors = sum(r["non_2xx"] + sum(r["socket_errors"].values()) for r in runs)
    return {
        f"command_vs_floor_at_{top}": ratios,
        "floor_requests_per_s": floor,
        "command_vs_floor_goal": ">= 2.0",
        "p99_ms_at_8": p99,
        "p99_goal_ms": 20,
        "errors": errors,
        "errors_goal": 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s per run and a 15 s soak (under 2 minutes)")
    parser.add_argument("--seconds", type=float, help="seconds per wrk run (default 5; --quick 2)")
    parser.add_argument("--connections", default="1,8,32", help="comma-separated connection counts")
    parser.add_argument("--routes", default="", help="only routes whose name starts with one of these (comma list)")
    parser.add_argument("--soak", type=float, help="soak seconds (default 600; --quick 15; 0: none)")
    parser.add_argument("--keep", action="store_true", help="keep the home and the servers' logs (to inspect)")
    args = parser.parse_args()
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    soak_seconds = args.soak if args.soak is not None else (15.0 if args.quick else 600.0)
    connections = [int(c) for c in args.connections.split(",") if c]
    wanted = [w for w in args.routes.split(",") if w]
    routes = [r for r in ROUTES if not wanted or any(r.name.startswith(w) for w in wanted)]
    load_start = Path("/proc/loadavg").read_text().split()[:3]
    runs: list[dict[str, Any]] = []
    soaked: dict[str, Any] | None = None
    home = Path(tempfile.mkdtemp(prefix="bench-serve-", dir=".")).resolve()
    try:
        os.environ[SECRET] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        token = seed(home)
        api, floor = free_port(), free_port()
        serve = [sys.executable, "-m", "datastrata", "serve", "--port", str(api)]
        serve += ["--rate-limit", "1000000", "--burst", "1000000"]
        floor_cmd = [sys.executable, str(FLOOR), "--db", str(home / "floor.db"), "--port", str(floor)]
        with server(serve, api, home, "serve") as app, server(floor_cmd, floor, home, "floor") as raw:
            for c in connections:
                runs.append(measure(raw.pid, floor, token, FLOOR_ROUTE, c, seconds, f"floor{c}"))
                print(json.dumps(runs[-1]), file=sys.stderr)
                for route in routes:
                    runs.append(measure(app.pid, api, token, route, c, seconds, f"{route.name}{c}"))
                    print(json.dumps(runs[-1]), file=sys.stderr)
            if soak_seconds > 0:
                peaks = [max(r["requests_per_s"] for r in runs if r["route"] == route.name) for route in routes]
                rate = statistics.mean(peaks) / 2
                at8 = [
                    r["p50_ms"]
                    for r in runs
                    if r["kind"] != "floor" and r["connections"] == min(connections, key=lambda c: abs(c - 8))
                ]
                every = 5.0 if soak_seconds >= 60 else 1.0
                soaked = soak(
                    app.pid,
                    api,
                    token,
                    routes,
                    seconds=soak_seconds,
                    rate=rate,
                    latency_ms=statistics.mean(at8),
                    every=every,
                )
    finally:
        if args.keep:
            print(f"kept the home and the servers' logs in {home}", file=sys.stderr)
        else:
            shutil.rmtree(home, ignore_errors=True)
    result = {
        "benchmark": "serve_load",
        "mode": "quick" if args.quick else "full",
        "seconds_per_run": seconds,
        "connections": connections,
        "runs": runs,
        "goals": goals(runs, connections),
        "soak": soaked,
        "loadavg": {"start": load_start, "end": Path("/proc/loadavg").read_text().split()[:3]},
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
