"""Every event-log figure against its driver floor, in one run: datastrata, the floor and eventsourcing interleaved.

Issue 15 (item 3) asks each figure of ``eventlog.py`` to reach at least 0.9x the least work the driver can do at
the same durability (``eventlog_floors.py``'s floor), measured in the same run. This harness measures, trial by trial
in rotating order, on SQLite (WAL, ``synchronous=FULL``) and a throwaway PostgreSQL (``fsync=on``):

* ``append_1``, ``append_100``, ``read_stream``, ``read_all``: datastrata's ``EventLog`` (as ``eventlog.py`` calls
  it), the driver floor (as ``eventlog_floors.py`` defines it) and eventsourcing (the peer);
* ``concurrent_N`` for N = 1, 4, 16 threads: datastrata's writers share one ``EventLog`` (on SQLite that is one
  group committer, on by default; on PostgreSQL a pool of N connections), each appending one event per command to
  its own streams at the expected version; the floor is N raw driver threads, each on its own connection, one
  transaction per append (SQLite ``BEGIN IMMEDIATE; INSERT; COMMIT``, PostgreSQL one autocommit ``INSERT``).

The goal is judged on ``ratio_vs_floor``: the median over trials of datastrata's rate over the floor's in the same
trial (a shared host's drift between trials cancels). Beside it: the ratio of the median rates, of the best trials,
and on SQLite of the events per CPU second of this process (SQLite runs in it: all the work but the disk's);
``datastrata_commits_per_append`` shows group commit at work.

Usage::

    .venv/bin/python benchmarks/eventlog_vs_floor.py              # 9 trials of 0.5 s per figure (about 4 minutes)
    .venv/bin/python benchmarks/eventlog_vs_floor.py --quick      # 5 trials of 0.15 s (about a minute)
    .venv/bin/python benchmarks/eventlog_vs_floor.py --no-postgres

JSON goes to stdout, progress to stderr.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from datastrata.eventlog import EventLog
from datastrata.stores.open import open_database
from datastrata.testing.servers import create_database, ephemeral_postgres, migrated

sys.path.insert(0, str(Path(__file__).parent))
from eventlog_floors import PostgresFloor, SqliteFloor

from eventlog import (  # the sibling benchmarks, imported from this directory
    OPS,
    DatastrataSubject,
    EventsourcingSubject,
    Runner,
    Settings,
    Subject,
    bind,
    both_engines,
    es_postgres_recorder,
    es_sqlite_recorder,
    load_read_set,
    log,
    machine_info,
    options,
    run_threads,
    trials,
)

#: Issue 15's goal: each datastrata figure at least this fraction of its floor.
GOAL = 0.9
#: More, shorter trials than eventlog.py's: the per-trial ratio's median is steadier on a shared host.
QUICK = Settings(mode="quick", warmup_s=0.2, trial_s=0.15, trials=5, read_all_events=5_000)
FULL = Settings(mode="full", warmup_s=0.5, trial_s=0.5, trials=9, read_all_events=10_000)
THREADS = (1, 4, 16)
#: Each concurrent PostgreSQL floor writer numbers its positions from its own range (no two writers collide).
_RANGE = 1 << 40


class CpuMeter:
    """Wraps runners to count the process's CPU seconds per event in each trial (SQLite runs in the process)."""

    def __init__(self) -> None:
        self.rates: dict[str, list[float]] = {}

    def wrap(self, name: str, runner: Runner) -> Runner:
        """`runner`, also recording events per CPU second of this process."""
        spent = self.rates.setdefault(name, [])

        def run(seconds: float) -> float:
            wall, cpu = time.perf_counter(), time.process_time()
            rate = runner(seconds)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            spent.append(rate * wall / cpu if cpu > 0 else 0.0)
            return rate

        return run

    def medians(self) -> dict[str, float]:
        """Median events per CPU second of each runner over its trials (the warm-up left out)."""
        return {k: statistics.median(v[1:]) for k, v in self.rates.items() if len(v) > 1}


def paired(samples: dict[str, list[float]], other: str) -> float:
    """The median over trials of datastrata's rate over `other`'s in the same trial (drift between trials cancels)."""
    return statistics.median(d / o for d, o in zip(samples["datastrata"], samples[other], strict=True) if o)


def ratios(name: str, samples: dict[str, list[float]], cpu: dict[str, float] | None = None) -> dict[str, Any]:
    """One record: median rates; datastrata against the floor (per trial, of the medians, best trial, CPU) and es."""
    medians = {k: statistics.median(v) for k, v in samples.items()}
    record: dict[str, Any] = {"name": name, "unit": "events/s"}
    record.update({k: round(v, 1) for k, v in medians.items()})
    ratio = paired(samples, "floor")
    record["ratio_vs_floor"] = round(ratio, 3)
    record["ratio_of_medians_vs_floor"] = round(medians["datastrata"] / medians["floor"], 3)
    record["best_ratio_vs_floor"] = round(max(samples["datastrata"]) / max(samples["floor"]), 3)
    if cpu:
        record["cpu_ratio_vs_floor"] = round(cpu["datastrata"] / cpu["floor"], 3)
    record["goal_vs_floor"] = GOAL
    record["met"] = ratio >= GOAL
    if "eventsourcing" in samples:
        record["ratio_vs_eventsourcing"] = round(paired(samples, "eventsourcing"), 3)
    return record


def interleaved(name: str, runners: dict[str, Runner], settings: Settings, cpu: bool) -> dict[str, Any]:
    """Measure `runners` trial by trial and return the figure's record (with CPU ratios when `cpu`)."""
    meter = CpuMeter()
    if cpu:
        runners = {k: meter.wrap(k, r) for k, r in runners.items()}
    return ratios(name, trials(name, runners, settings), meter.medians() if cpu else None)


def single_writer(engine: str, subjects: dict[str, Subject], settings: Settings) -> list[dict[str, Any]]:
    """Load the read set into every subject, then measure each figure of eventlog.py interleaved."""
    log(f"[{engine}] loading {settings.read_all_events:,} events per implementation")
    for subject in subjects.values():
        load_read_set(subject, settings)
    return [
        interleaved(f"{engine}_{op}", {k: bind(make(s)) for k, s in subjects.items()}, settings, engine == "sqlite")
        for op, make in OPS.items()
    ]


def concurrent(
    engine: str,
    datastrata: Callable[[int], list[Subject]],
    floor: Callable[[int], list[Subject]],
    settings: Settings,
    commits: Callable[[], tuple[int, int]] | None = None,
) -> list[dict[str, Any]]:
    """N datastrata writers against N floor writers, one event per transaction each, for every N in THREADS."""
    out = []
    for n in THREADS:
        with ExitStack() as stack:
            sides = {"datastrata": datastrata(n), "floor": floor(n)}
            for subjects in sides.values():
                for s in subjects:
                    stack.callback(s.close)
            runners: dict[str, Runner] = {k: _threads(v) for k, v in sides.items()}
            before = commits() if commits else None
            record = interleaved(f"{engine}_concurrent_{n}", runners, settings, engine == "sqlite")
            record["threads"] = n
            if commits and before:
                done = commits()
                appends, flushes = done[1] - before[1], done[0] - before[0]
                record["datastrata_commits_per_append"] = round(flushes / appends, 3) if appends else None
            out.append(record)
    return out


def _threads(subjects: list[Subject]) -> Runner:
    ops = [OPS["append_1"](s) for s in subjects]
    return lambda seconds: run_threads(ops, seconds)


def bench_sqlite(workdir: Path, settings: Settings) -> list[dict[str, Any]]:
    """SQLite: the four figures, then concurrent appenders with group commit (the default) against raw threads."""
    url = f"sqlite:///{workdir / 'datastrata.db'}?synchronous=FULL"
    ds = DatastrataSubject("acct", url)
    es = EventsourcingSubject("acct", *es_sqlite_recorder(workdir / "eventsourcing.db"))
    floor = SqliteFloor("acct", workdir / "floor.db", decode=True)
    subjects: dict[str, Subject] = {"datastrata": ds, "floor": floor, "eventsourcing": es}
    try:
        _check_sqlite(ds, floor)
        figures = single_writer("sqlite", subjects, settings)
        log("[sqlite] concurrent appenders (group commit on) against raw threads (one transaction per append)")
        shared = ds.log
        group = ds.db.group  # type: ignore[attr-defined]
        if group is None:
            raise RuntimeError("the SQLite store must run with group commit on (its default)")
        counts = ds.db.commit_counts  # type: ignore[attr-defined]
        figures += concurrent(
            "sqlite",
            lambda n: [DatastrataSubject(f"t{n}w{k}", url, shared=shared) for k in range(n)],
            lambda n: [SqliteFloor(f"t{n}w{k}", workdir / "floor.db", decode=True) for k in range(n)],
            settings,
            commits=lambda: (counts.commits, counts.transactions),
        )
        return figures
    finally:
        for subject in subjects.values():
            subject.close()


def _check_sqlite(ds: DatastrataSubject, floor: SqliteFloor) -> None:
    """Refuse to measure unless both sides flush every commit (WAL, synchronous=FULL)."""
    with ds.db.read() as tx:
        mine = (int(tx.scalar("PRAGMA synchronous")), str(tx.scalar("PRAGMA journal_mode")))
    theirs = (int(floor.conn.execute("PRAGMA synchronous").fetchone()[0]), "wal")
    if mine != (2, "wal") or theirs[0] != 2:
        raise RuntimeError(f"SQLite durability differs: datastrata {mine}, floor {theirs}")


def bench_postgres(settings: Settings) -> list[dict[str, Any]]:
    """PostgreSQL: the four figures, then concurrent appenders (a pool of N) against N raw autocommit connections."""
    log("[pg] starting a throwaway PostgreSQL server (fsync=on)")
    with ephemeral_postgres(fsync=True) as base, ExitStack() as stack:
        ds_url = migrated(create_database(base, "bench_datastrata"))
        floor_url = create_database(base, "bench_floor")
        ds = DatastrataSubject("acct", ds_url)
        es = EventsourcingSubject("acct", *es_postgres_recorder(create_database(base, "bench_eventsourcing")))
        floor = PostgresFloor("acct", floor_url, decode=True)
        subjects: dict[str, Subject] = {"datastrata": ds, "floor": floor, "eventsourcing": es}
        for subject in subjects.values():
            stack.callback(subject.close)
        figures = single_writer("pg", subjects, settings)
        log("[pg] concurrent appenders: a pool of N connections against N raw autocommit connections")
        with _pool(ds_url, max(THREADS)) as shared:
            figures += concurrent(
                "pg",
                lambda n: [DatastrataSubject(f"t{n}w{k}", ds_url, shared=shared) for k in range(n)],
                lambda n: [
                    PostgresFloor(f"t{n}w{k}", floor_url, decode=True, positions_from=(n * 100 + k + 1) * _RANGE)
                    for k in range(n)
                ],
                settings,
            )
        return figures


@contextmanager
def _pool(url: str, size: int) -> Iterator[EventLog]:
    """One EventLog over a pool of `size` connections (one per writer thread)."""
    db = open_database(f"{url}{'&' if '?' in url else '?'}pool_size={size}")
    try:
        yield EventLog(db)
    finally:
        db.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run both engines and print the JSON report."""
    args = options(argv, __doc__, "short trials (about a minute)")
    settings = QUICK if args.quick else FULL
    machine = machine_info(settings)
    started = time.perf_counter()
    figures = both_engines(
        lambda workdir: bench_sqlite(workdir, settings),
        lambda: bench_postgres(settings),
        machine,
        with_postgres=not args.no_postgres,
    )
    machine["wall_seconds"] = round(time.perf_counter() - started, 1)
    machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    missed = [f["name"] for f in figures if not f["met"]]
    log(f"done in {machine['wall_seconds']}s; below {GOAL}x the floor: {', '.join(missed) or 'none'}")
    report = {"figures": figures, "goal_vs_floor": GOAL, "machine": machine, "mode": settings.mode}
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
