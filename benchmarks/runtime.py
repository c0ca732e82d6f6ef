"""What the runtime costs a command: a scoped transaction beside the bare event log and the raw driver.

One command = read the stream, append one event at the expected version, commit (the portfolio's shape). Three
ways, interleaved in rounds so the machine's drift hits all alike:

- ``raw``: the driver alone (sqlite3 / psycopg): SELECT max(version); INSERT; COMMIT;
- ``eventlog``: ``db.transaction()`` + ``log.read_in`` + ``log.append_in`` (the spine without the runtime);
- ``runtime``: ``runtime.transaction(scope)`` + ``work.stream()`` + ``work.append()`` (what every system uses).

A second figure is the runtime's own CPU per command, with ``synchronous=OFF`` so no fsync hides it. A third opens
many locations through a bounded runtime (one SQLite file per key, ``max_open`` of them
open) and reports commands/s when every command finds its location open vs when each must be reopened (keys
taken in a cycle: the worst case for least-recently-used; closing a WAL file's last connection checkpoints it).

Usage::

    .venv/bin/python benchmarks/runtime.py            # 5 rounds of 2 s per way and engine
    .venv/bin/python benchmarks/runtime.py --quick    # 2 rounds of 1 s, SQLite only
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from datastrata.core.config import Settings
from datastrata.core.events import NewEvent
from datastrata.core.ids import new_id
from datastrata.eventlog.log import EventLog
from datastrata.runtime import LocationSpec, Runtime, Scope
from datastrata.stores.open import open_database

PAYLOAD = {"amount": "100.00", "currency": "USD"}
STREAMS = 200


def _rate(command: Callable[[int], None], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    stop = start + seconds
    while time.perf_counter() < stop:
        command(count)
        count += 1
    return count / (time.perf_counter() - start)


def _raw_sqlite(path: Path) -> Callable[[int], None]:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS raw_events (position INTEGER PRIMARY KEY AUTOINCREMENT, stream_id TEXT, "
        "version INTEGER, event_id TEXT UNIQUE, payload TEXT, UNIQUE (stream_id, version))"
    )
    body = json.dumps(PAYLOAD)

    def command(i: int) -> None:
        stream = f"raw-{i % STREAMS}"
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute("SELECT version, payload FROM raw_events WHERE stream_id = ?", (stream,)).fetchall()
        version = max((r[0] for r in rows), default=0)
        conn.execute(
            "INSERT INTO raw_events (stream_id, version, event_id, payload) VALUES (?, ?, ?, ?)",
            (stream, version + 1, new_id(), body),
        )
        conn.execute("COMMIT")

    return command


def _raw_postgres(url: str) -> Callable[[int], None]:
    import psycopg

    conn = psycopg.connect(url, autocommit=True)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS raw_events (position BIGSERIAL PRIMARY KEY, stream_id TEXT, version INT, "
        "event_id TEXT UNIQUE, payload JSONB, UNIQUE (stream_id, version))"
    )
    body = json.dumps(PAYLOAD)

    def command(i: int) -> None:
        stream = f"raw-{i % STREAMS}"
        with conn.transaction():
            rows = conn.execute("SELECT version, payload FROM raw_events WHERE stream_id = %s", (stream,)).fetchall()
            version = max((r[0] for r in rows), default=0)
            conn.execute(
                "INSERT INTO raw_events (stream_id, version, event_id, payload) VALUES (%s, %s, %s, %s::jsonb)",
                (stream, version + 1, new_id(), body),
            )

    return command


def _key(i: int, streams: int | None) -> int:
    return i % streams if streams else i


def _eventlog(url: str, streams: int | None = STREAMS) -> Callable[[int], None]:
    db = open_database(url)
    log = EventLog(db)

    def command(i: int) -> None:
        stream = f"portfolio-e{_key(i, streams)}"
        with db.transaction() as tx:
            events = log.read_in(tx, stream)
            log.append_in(tx, stream, [NewEvent("CASH_DEPOSITED", PAYLOAD)], expected_version=len(events))

    return command


def _runtime(url: str, home: Path, streams: int | None = STREAMS) -> tuple[Runtime, Callable[[int], None]]:
    runtime = Runtime.open(Settings(store=url, graph=f"ladybug:///{home}/graph", objects=f"file://{home}/objects"))

    def command(i: int) -> None:
        with runtime.transaction(Scope("portfolio", f"r{_key(i, streams)}")) as work:
            events = work.stream()
            work.append([NewEvent("CASH_DEPOSITED", PAYLOAD)], expected_version=len(events))

    return runtime, command


def compare(
    engine: str, url: str, raw: Callable[[int], None], home: Path, rounds: int, seconds: float
) -> dict[str, Any]:
    """Interleave raw, eventlog and runtime commands; return median commands/s and the ratios."""
    runtime, through_runtime = _runtime(url, home)
    ways = {"raw": raw, "eventlog": _eventlog(url), "runtime": through_runtime}
    for command in ways.values():  # warm caches, prepared statements, files
        _rate(command, 0.2)
    rates: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, command in ways.items():
            rates[name].append(_rate(command, seconds))
    runtime.close()
    median = {name: statistics.median(values) for name, values in rates.items()}
    return {
        "engine": engine,
        "commands_per_s": {k: round(v) for k, v in median.items()},
        "runtime_vs_eventlog": round(median["runtime"] / median["eventlog"], 3),
        "runtime_vs_raw": round(median["runtime"] / median["raw"], 3),
    }


class _FilePerKey:
    """One SQLite file per key: a stand-in for many tenants' or shards' locations."""

    kind = "per_key"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _spec(self, key: str) -> LocationSpec:
        return LocationSpec(key, f"sqlite:///{self.folder / key}.db", f"ladybug:///{self.folder}/g", "")

    def locate(self, scope: Scope) -> LocationSpec:
        return self._spec(scope.key or "main")

    def locations(self, scope: Scope) -> list[LocationSpec]:
        return [self.locate(scope)]

    def all(self) -> list[LocationSpec]:
        return [self._spec("main")]


def many_locations(home: Path, *, locations: int, max_open: int, seconds: float) -> dict[str, Any]:
    """Commands/s cycling over `locations` files with `max_open` of them open at once."""
    placement = _FilePerKey(home)
    with Runtime.open(Settings(store=f"sqlite:///{home}/main.db"), placement=placement, max_open=max_open) as rt:
        for k in range(locations):  # create every file first: the figure is reopening, not creating
            rt.append(Scope("ctx", f"k{k}"), [NewEvent("Made", PAYLOAD)])

        def command(i: int) -> None:
            with rt.transaction(Scope("ctx", f"k{i % locations}")) as work:
                work.append([NewEvent("Made", PAYLOAD)])

        rate = _rate(command, seconds)
    return {"locations": locations, "max_open": max_open, "commands_per_s": round(rate)}


def cpu_per_command(home: Path, *, commands: int = 4000, rounds: int = 3) -> dict[str, Any]:
    """Microseconds per command of the bare event log and the runtime with no fsync (each on new streams)."""
    url = f"sqlite:///{home}/cpu.db?synchronous=OFF"
    runtime, through_runtime = _runtime(url, home, streams=None)
    ways = {"eventlog": _eventlog(url, streams=None), "runtime": through_runtime}
    timings: dict[str, list[float]] = {name: [] for name in ways}
    for r in range(rounds):
        for name, command in ways.items():
            start = time.perf_counter()
            for i in range(commands):
                command(r * commands + i)  # a new stream per command: equal, flat work
            timings[name].append((time.perf_counter() - start) / commands * 1e6)
    runtime.close()
    us = {name: round(statistics.median(values), 1) for name, values in timings.items()}
    return {"synchronous": "OFF", "us_per_command": us, "runtime_overhead_us": round(us["runtime"] - us["eventlog"], 1)}


def main() -> None:
    """Run the comparisons and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 1 s, SQLite only")
    args = parser.parse_args()
    rounds, seconds = (2, 1.0) if args.quick else (5, 2.0)
    results: dict[str, Any] = {"rounds": rounds, "seconds_per_round": seconds, "command_paths": []}
    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="datastrata-bench-runtime-")))
        url = f"sqlite:///{home}/bench.db"
        results["command_paths"].append(compare("sqlite", url, _raw_sqlite(home / "raw.db"), home, rounds, seconds))
        if not args.quick:
            from datastrata.testing.servers import create_database, ephemeral_postgres, migrated

            server = stack.enter_context(ephemeral_postgres())
            pg = migrated(create_database(server, "bench_runtime"))
            results["command_paths"].append(compare("postgresql", pg, _raw_postgres(pg), home, rounds, seconds))
        results["cpu"] = cpu_per_command(home)
        results["locations"] = [
            many_locations(home / "all-open", locations=64, max_open=65, seconds=seconds),  # 64 + home
            many_locations(home / "bounded", locations=64, max_open=8, seconds=seconds),
        ]
    json.dump(results, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
