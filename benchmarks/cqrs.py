"""CQRS figures for the match system: commands/s, projection events/s, read latency, rebuild time.

Measured in one run, each beside a floor measured the same way on the same engine:

* **commands/s with validation**: simulated referee commands through ``MatchService`` (load facts, check the
  rules, write the normalized rows, append the events, commit), on SQLite with ``synchronous=FULL`` (the store's
  default) and ``synchronous=NORMAL``, and on PostgreSQL (fsync on) when a server can be started. The floor is a
  raw-driver loop committing one JSON row per transaction at the same durability.
* **events/s per projection**: the time each read model spends folding pages during a rebuild of all four
  (``apply_batch``: build rows, executemany, upserts), reported beside the floor of reading and decoding the same
  pages with ``EventLog.read_page`` and doing nothing with them, and the end-to-end rebuild rate.
* **read latency**: the TV view's last ten lines from the cache vs from its table, and the full service call
  (which adds the freshness report) for each of the four views.
* **rebuild of all four from N events**: one pass over the log feeding all four (``replay_together``); 1M events
  in full mode, fewer in ``--quick`` with the time extrapolated linearly and labelled so.

Usage::

    .venv/bin/python benchmarks/cqrs.py            # full: 1M-event rebuild, a few minutes
    .venv/bin/python benchmarks/cqrs.py --quick    # under a minute

JSON goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from datastrata.core.config import Settings
from datastrata.core.events import NewEvent
from datastrata.eventlog import EventLog
from datastrata.runtime import Runtime
from datastrata.stores.open import open_database
from datastrata.systems.match import domain, simulate
from datastrata.systems.match.service import MatchService, match_scope
from datastrata.testing.servers import ServerUnavailable, create_database, ephemeral_postgres, migrated


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


def figure(name: str, unit: str, value: float, **extra: Any) -> dict[str, Any]:
    """One figure in the output."""
    return {"name": name, "unit": unit, "datastrata": round(value, 1), **extra}


# ---- commands ------------------------------------------------------------------------------------------------


def commands(svc: MatchService, count: int, seed: int) -> float:
    """Run `count` simulated referee commands; return commands per second."""
    rng = random.Random(seed)
    plans: list[tuple[str, simulate.Command]] = []
    n = 0
    while len(plans) < count:
        n += 1
        match_id = f"B{seed}-{n}"
        plans += [(match_id, c) for c in simulate.plan_match(rng, match_id)]
    plans = plans[:count]
    started = time.perf_counter()
    for match_id, command in plans:
        simulate.run(svc, match_id, command)
    return count / (time.perf_counter() - started)


def raw_sqlite_commits(path: Path, synchronous: str, count: int) -> float:
    """The floor: one JSON row per transaction through sqlite3 at the same durability."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("CREATE TABLE IF NOT EXISTS raw (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    body = json.dumps({"match_id": "M", "player": "ARG-10", "minute": 23, "foul": "UNSPORTING"})
    started = time.perf_counter()
    for _ in range(count):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO raw (body) VALUES (?)", (body,))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


def raw_pg_commits(url: str, count: int) -> float:
    """The floor on PostgreSQL: one JSON row per transaction through psycopg."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS raw (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)")
        body = json.dumps({"match_id": "M", "player": "ARG-10", "minute": 23, "foul": "UNSPORTING"})
        started = time.perf_counter()
        for _ in range(count):
            with conn.transaction():
                conn.execute("INSERT INTO raw (body) VALUES (%s)", (body,))
        return count / (time.perf_counter() - started)


def command_figures(work: Path, count: int, pg_url: str | None) -> list[dict[str, Any]]:
    """Commands per second on each engine and durability, beside the raw floor."""
    out = []
    for synchronous in ("FULL", "NORMAL"):
        url = f"sqlite:///{work}/commands-{synchronous.lower()}.db?synchronous={synchronous}"
        with Runtime.open(Settings(store=url)) as runtime:
            svc = MatchService(runtime)
            simulate.ensure_reference_data(svc)
            commands(svc, 200, seed=99)  # warm-up
            rate = commands(svc, count, seed=1)
        raw = raw_sqlite_commits(work / f"raw-{synchronous.lower()}.db", synchronous, count)
        log(f"commands sqlite synchronous={synchronous}: {rate:,.0f}/s (raw {raw:,.0f}/s)")
        out.append(
            figure(
                f"commands_sqlite_{synchronous.lower()}",
                "commands/s",
                rate,
                raw_one_row_commit=round(raw, 1),
                vs_raw=round(rate / raw, 2),
                goal=">= 2000",
                met=rate >= 2000,
                synchronous=synchronous,
            )
        )
    if pg_url is not None:
        with Runtime.open(Settings(store=pg_url)) as runtime:
            svc = MatchService(runtime)
            simulate.ensure_reference_data(svc)
            commands(svc, 100, seed=99)
            rate = commands(svc, max(count // 4, 200), seed=1)
        raw = raw_pg_commits(pg_url, max(count // 4, 200))
        log(f"commands postgresql: {rate:,.0f}/s (raw {raw:,.0f}/s)")
        out.append(
            figure(
                "commands_postgresql",
                "commands/s",
                rate,
                raw_one_row_commit=round(raw, 1),
                vs_raw=round(rate / raw, 2),
                fsync="on",
            )
        )
    return out


# ---- the log to project --------------------------------------------------------------------------------------


def grow_log(url: str, events: int) -> int:
    """Play 60 matches through the command side, then copy them under new match ids until the log holds `events`.

    Copies are appended 100 matches per transaction with ``synchronous=OFF`` (setup only, not measured).
    """
    with Runtime.open(Settings(store=url)) as runtime:
        svc = MatchService(runtime)
        simulate.play(svc, matches=60, seed=1)
        originals = [runtime.log.read(match_scope(m).stream_id) for m in sorted(svc.match_ids())]
    db = open_database(url.split("?")[0] + "?synchronous=OFF")
    event_log = EventLog(db)
    total, copy = event_log.count(), 0
    while total < events:
        with db.transaction() as tx:
            for template in originals:
                copy += 1
                match_id = f"COPY-{copy}"
                batch = [NewEvent(type=e.type, payload={**e.payload, "match_id": match_id}) for e in template]
                batch = batch[: max(events - total, 1)]
                event_log.append_in(tx, match_scope(match_id).stream_id, batch, expected_version=0)
                total += len(batch)
                if total >= events:
                    break
        if copy % 2000 < len(originals):
            log(f"  log holds {total:,} events")
    db.close()
    return total


# ---- projections and reads -----------------------------------------------------------------------------------


def projection_figures(url: str, events: int) -> tuple[list[dict[str, Any]], float, float]:
    """Rebuild each read model alone, then all four in one pass; return figures and the all-four time."""
    out = []
    with Runtime.open(Settings(store=url)) as runtime:
        svc = MatchService(runtime)
        match_events = runtime.log.count()
        started = time.perf_counter()
        after, read = 0, 0
        while True:
            page = runtime.log.read_page(after=after, limit=20000, types=domain.MATCH_EVENTS)
            read += len(page.events)
            if page.next_after == after or not page.events:
                break
            after = page.next_after
        floor = read / (time.perf_counter() - started)
        log(f"read+decode floor: {floor:,.0f} events/s over {read:,} events")
        timings: dict[str, float] = {}
        started, cpu = time.perf_counter(), time.process_time()
        svc.rebuild("all", timings=timings)
        all_four, all_four_cpu = time.perf_counter() - started, time.process_time() - cpu
        log(f"rebuild all four from {match_events:,} events: {all_four:.1f} s (process CPU {all_four_cpu:.1f} s)")
        for key, runner in svc.runners.items():
            rate = read / timings[runner.name]
            log(f"projection {key}: folds {rate:,.0f} events/s")
            out.append(
                figure(
                    f"projection_{key}_apply_events_per_s",
                    "events/s",
                    rate,
                    apply_s=round(timings[runner.name], 2),
                    read_decode_floor=round(floor, 1),
                    goal=">= 50000",
                    met=rate >= 50000,
                    events=read,
                )
            )
        end_to_end = read / all_four
        out.append(
            figure(
                "rebuild_all_four_end_to_end_events_per_s",
                "log events/s",
                end_to_end,
                note="read + decode once, fold into all four read models, commit",
            )
        )
        out += read_figures(svc)
    return out, all_four, all_four_cpu


def latency(call: Callable[[], object], n: int = 2000) -> float:
    """Median latency of `call` in microseconds."""
    samples = []
    for _ in range(n):
        started = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - started)
    return statistics.median(samples) / 1000


def read_figures(svc: MatchService) -> list[dict[str, Any]]:
    """Read latency of each view; the TV view from the cache and from its table."""
    match_id = sorted(svc.match_ids())[0]
    view, runner = svc.tv_view, svc.runners["tv"]

    def from_table() -> object:
        with svc.runtime.db.read() as tx:
            return {"position": runner.checkpoints.get_in(tx, runner.name), "events": view.latest(tx, match_id)}

    svc.tv(match_id)
    cache_hit = latency(lambda: view.views.get(view.cache_name(match_id), from_table))
    table = latency(from_table)
    out = [
        figure(
            "tv_last10_cache_us",
            "µs (median)",
            cache_hit,
            table_us=round(table, 1),
            table_vs_cache=round(table / cache_hit, 1),
            cache=svc.runtime.cache.name,
        ),
        figure(
            "tv_service_call_cached_us",
            "µs (median)",
            latency(lambda: svc.tv(match_id), 500),
            uncached_us=round(latency(lambda: svc.tv(match_id, cached=False), 500), 1),
            note="service call = view + freshness report (checkpoint, head, count)",
        ),
        figure("news_service_call_us", "µs (median)", latency(lambda: svc.news(threshold=75, limit=20), 300)),
        figure("social_trending_service_call_us", "µs (median)", latency(lambda: svc.social(trending=True), 300)),
        figure("analytics_match_service_call_us", "µs (median)", latency(lambda: svc.analytics(match_id), 300)),
    ]
    log(f"tv last ten: cache {cache_hit:.1f} µs, table {table:.1f} µs")
    return out


# ---- main ----------------------------------------------------------------------------------------------------


@contextmanager
def postgres(enabled: bool) -> Iterator[str | None]:
    """A throwaway PostgreSQL database (fsync on), or None when no server can be started."""
    if not enabled:
        yield None
        return
    try:
        with ephemeral_postgres(fsync=True) as base:
            yield migrated(create_database(base, "cqrs_bench"))
    except ServerUnavailable as exc:
        log(f"PostgreSQL skipped: {exc}")
        yield None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer commands and events; under a minute")
    parser.add_argument("--events", type=int, default=None, help="events in the log to rebuild from")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL command figure")
    args = parser.parse_args()
    events = args.events or (100_000 if args.quick else 1_000_000)
    count = 2000 if args.quick else 10000
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="datastrata-cqrs-")))
        pg_url = stack.enter_context(postgres(not args.no_postgres))
        figures = command_figures(work, count, pg_url)
        url = f"sqlite:///{work}/projections.db"
        log(f"growing the log to {events:,} events")
        stored = grow_log(url, events)
        projected, all_four, all_four_cpu = projection_figures(url, stored)
        figures += projected
        per_million = all_four * 1_000_000 / stored
        figures.append(
            figure(
                "rebuild_all_four_1M_events_s",
                "s",
                per_million,
                measured_events=stored,
                measured_s=round(all_four, 2),
                process_cpu_s=round(all_four_cpu * 1_000_000 / stored, 2),
                extrapolated=stored < 1_000_000,
                goal="<= 60",
                met=per_million <= 60,
            )
        )
    result = {
        "benchmark": "cqrs",
        "mode": "quick" if args.quick else "full",
        "machine": {
            "python": host.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "sqlite": sqlite3.sqlite_version,
            "projection_store": "SQLite file, WAL, synchronous=FULL (store default)",
        },
        "figures": figures,
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
