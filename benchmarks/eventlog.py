"""Event log throughput: datastrata vs the `eventsourcing` library vs a raw-driver loop, in one run.

Every figure is events per second, the median of repeated timed trials after a warm-up, measured for three
implementations on the same engine at the same durability:

* datastrata's ``EventLog`` (append / read / read_page), as an application would call it;
* ``eventsourcing`` 9.5's own recorders (``SQLiteApplicationRecorder`` / ``PostgresApplicationRecorder``) with its
  ``Mapper`` + ``JSONTranscoder`` turning domain events into ``StoredEvent`` objects and back, i.e. what its
  ``Application`` does on save and on replay;
* a raw driver loop (``sqlite3`` / ``psycopg``) inserting the same columns into an identical table (datastrata's own
  DDL) with one transaction per append (BEGIN, INSERT, COMMIT), and selecting + decoding them back. It skips
  datastrata's version, writer-order and duplicate checks; ``eventlog_floors.py`` measures the least work a driver
  can do.

Engines: an SQLite file in WAL mode with ``synchronous=FULL`` for all three (checked per connection and reported in
``machine``), and a throwaway PostgreSQL server (``fsync=on``, ``synchronous_commit=on``) started for the run.

Usage::

    .venv/bin/python benchmarks/eventlog.py            # full: steadier, a few minutes
    .venv/bin/python benchmarks/eventlog.py --quick    # under a minute

JSON goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import psycopg
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import (
    ApplicationRecorder,
    DatetimeAsISO,
    DecimalAsStr,
    EventStore,
    JSONTranscoder,
    Mapper,
    UUIDAsHex,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteConnection, SQLiteConnectionPool, SQLiteDatastore

from datastrata.core.events import NewEvent
from datastrata.core.ids import new_id
from datastrata.eventlog import EventLog
from datastrata.eventlog.schema import MIGRATIONS as EVENTLOG
from datastrata.stores.database import Database
from datastrata.stores.open import open_database
from datastrata.testing.servers import ServerUnavailable, create_database, ephemeral_postgres, migrated

IMPLS = ("datastrata", "eventsourcing", "raw")
EVENT_TYPE = "TradeBooked"
#: The event body every implementation stores: ~100 bytes of compact JSON.
PAYLOAD: dict[str, Any] = {
    "account": "ACC-000123",
    "instrument": "US0378331005",
    "side": "buy",
    "qty": 17,
    "price": "187.25",
    "currency": "USD",
}
STREAMS = 100  # appends rotate over this many streams per writer
READ_STREAM_EVENTS = 1000
PAGE = 1000
_COLUMNS = (
    "tenant_id, stream_id, version, event_id, event_type, schema_version, payload, metadata, occurred_at, recorded_at"
)
_SELECT = f"SELECT position, {_COLUMNS} FROM eventlog_events"
#: One stream of the default tenant (streams are per tenant: the unique index leads with the tenant).
_STREAM = "tenant_id = 'default' AND stream_id"


@dataclass(frozen=True)
class Settings:
    """How long and how often each figure is measured."""

    mode: str
    warmup_s: float
    trial_s: float
    trials: int
    read_all_events: int


QUICK = Settings(mode="quick", warmup_s=0.2, trial_s=0.25, trials=3, read_all_events=5_000)
FULL = Settings(mode="full", warmup_s=0.6, trial_s=1.0, trials=5, read_all_events=10_000)

Op = Callable[[], int]  # runs one unit of work and returns how many events it wrote or read


def log(message: str) -> None:
    """Progress to stderr."""
    print(message, file=sys.stderr, flush=True)


# ---- the eventsourcing side ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TradeBooked(DomainEvent):
    """The same fact as datastrata's payload, as an eventsourcing domain event."""

    account: str
    instrument: str
    side: str
    qty: int
    price: str
    currency: str


def es_mapper() -> Mapper[UUID]:
    """The mapper an eventsourcing Application builds by default (JSON + its standard transcodings)."""
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DecimalAsStr())
    transcoder.register(DatetimeAsISO())
    return Mapper(transcoder=transcoder)


class FullSyncSQLitePool(SQLiteConnectionPool):
    """eventsourcing's SQLite pool with ``synchronous=FULL`` forced on every connection it opens.

    eventsourcing sets WAL but leaves ``synchronous`` at the build default, so the benchmark pins it.
    """

    def _create_connection(self) -> SQLiteConnection:
        conn = super()._create_connection()
        with conn.cursor() as cur:
            cur.execute("PRAGMA synchronous=FULL")
        return conn


def es_sqlite_recorder(path: Path) -> tuple[SQLiteDatastore, SQLiteApplicationRecorder]:
    """An eventsourcing SQLite application recorder on `path`, WAL + synchronous=FULL."""
    datastore = SQLiteDatastore(db_name=str(path))
    datastore.pool.close()
    datastore.pool = FullSyncSQLitePool(db_name=str(path))
    recorder = SQLiteApplicationRecorder(datastore)
    recorder.create_table()
    return datastore, recorder


def es_postgres_recorder(url: str) -> tuple[PostgresDatastore, PostgresApplicationRecorder]:
    """An eventsourcing PostgreSQL application recorder on the database named by `url`."""
    parts = urlsplit(url)
    datastore = PostgresDatastore(
        dbname=parts.path.lstrip("/"),
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or "",
    )
    recorder = PostgresApplicationRecorder(datastore)
    recorder.create_table()
    return datastore, recorder


# ---- one implementation, ready to append and read --------------------------------------------------------------


class Subject:
    """One implementation on one database: append `n` events to the next stream, read a stream, read all."""

    name: str

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.versions = [0] * STREAMS
        self.turn = 0

    def next_stream(self) -> int:
        """Round-robin over this writer's streams."""
        self.turn = (self.turn + 1) % STREAMS
        return self.turn

    def append(self, n: int) -> int:
        """Append `n` events to one stream in one transaction; return `n`."""
        raise NotImplementedError

    def append_to(self, stream: str, n: int) -> None:
        """Append `n` events to a named stream (used to load the read data set)."""
        raise NotImplementedError

    def read_stream(self, stream: str) -> int:
        """Read and decode a whole stream; return how many events."""
        raise NotImplementedError

    def read_all(self) -> int:
        """Read and decode the whole global log page by page; return how many events."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


class DatastrataSubject(Subject):
    """datastrata's EventLog."""

    name = "datastrata"

    def __init__(self, prefix: str, url: str, *, shared: EventLog | None = None) -> None:
        super().__init__(prefix)
        self.owned = shared is None  # writers of one process share one log (and SQLite's group commit)
        self.log = EventLog(open_database(url)) if shared is None else shared
        self.db: Database = self.log.db

    def append(self, n: int) -> int:
        i = self.next_stream()
        events = [NewEvent(type=EVENT_TYPE, payload=PAYLOAD) for _ in range(n)]
        result = self.log.append(f"{self.prefix}-{i}", events, expected_version=self.versions[i])
        self.versions[i] = result.version
        return n

    def append_to(self, stream: str, n: int) -> None:
        self.log.append(stream, [NewEvent(type=EVENT_TYPE, payload=PAYLOAD) for _ in range(n)])

    def read_stream(self, stream: str) -> int:
        return len(self.log.read(stream))

    def read_all(self) -> int:
        after, total = 0, 0
        while True:
            page = self.log.read_page(after=after, limit=PAGE)
            total += len(page.events)
            if len(page.events) < PAGE:
                return total
            after = page.next_after

    def close(self) -> None:
        if self.owned:
            self.db.close()


class EventsourcingSubject(Subject):
    """eventsourcing's application recorder + mapper (what its Application does on save and replay)."""

    name = "eventsourcing"

    def __init__(self, prefix: str, datastore: Any, recorder: ApplicationRecorder) -> None:
        super().__init__(prefix)
        self.datastore = datastore
        self.recorder = recorder
        self.mapper = es_mapper()
        self.store: EventStore[UUID] = EventStore(mapper=self.mapper, recorder=recorder)
        self.ids = [uuid4() for _ in range(STREAMS)]
        self.named: dict[str, UUID] = {}

    def _events(self, originator_id: UUID, after: int, n: int) -> list[TradeBooked]:
        now = DomainEvent.create_timestamp()
        return [
            TradeBooked(originator_id=originator_id, originator_version=after + k + 1, timestamp=now, **PAYLOAD)
            for k in range(n)
        ]

    def append(self, n: int) -> int:
        i = self.next_stream()
        self.store.put(self._events(self.ids[i], self.versions[i], n))
        self.versions[i] += n
        return n

    def append_to(self, stream: str, n: int) -> None:
        originator_id = self.named.setdefault(stream, uuid4())
        current = len(self.recorder.select_events(originator_id))
        self.store.put(self._events(originator_id, current, n))

    def read_stream(self, stream: str) -> int:
        return len(list(self.store.get(self.named[stream])))

    def read_all(self) -> int:
        start, total = 1, 0
        while True:
            notifications = self.recorder.select_notifications(start=start, limit=PAGE)
            decoded = [self.mapper.to_domain_event(n) for n in notifications]
            total += len(decoded)
            if len(notifications) < PAGE:
                return total
            start = notifications[-1].id + 1

    def close(self) -> None:
        self.datastore.close()


def _row(prefix_stream: str, version: int, now: str | datetime) -> tuple[Any, ...]:
    return (
        "default",
        prefix_stream,
        version,
        new_id(),
        EVENT_TYPE,
        1,
        json.dumps(PAYLOAD, separators=(",", ":"), sort_keys=True),
        "{}",
        now,
        now,
    )


class RawSqliteSubject(Subject):
    """sqlite3 directly: BEGIN IMMEDIATE; INSERT …; COMMIT."""

    name = "raw"

    def __init__(self, prefix: str, path: Path) -> None:
        super().__init__(prefix)
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(EVENTLOG.script("sqlite"))
        self.insert = f"INSERT INTO eventlog_events ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)"

    @staticmethod
    def _now() -> str:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _write(self, stream: str, after: int, n: int) -> None:
        now = self._now()
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany(self.insert, [_row(stream, after + k + 1, now) for k in range(n)])
        self.conn.execute("COMMIT")

    def append(self, n: int) -> int:
        i = self.next_stream()
        self._write(f"{self.prefix}-{i}", self.versions[i], n)
        self.versions[i] += n
        return n

    def append_to(self, stream: str, n: int) -> None:
        row = self.conn.execute(f"SELECT max(version) FROM eventlog_events WHERE {_STREAM} = ?", (stream,)).fetchone()
        self._write(stream, int(row[0] or 0), n)

    @staticmethod
    def _decode(r: Sequence[Any]) -> tuple[Any, ...]:
        return (
            *r[:7],
            json.loads(r[7]),
            json.loads(r[8]),
            datetime.fromisoformat(r[9]),
            datetime.fromisoformat(r[10]),
        )

    def read_stream(self, stream: str) -> int:
        rows = self.conn.execute(f"{_SELECT} WHERE {_STREAM} = ? AND version >= 1 ORDER BY version", (stream,))
        return len([self._decode(r) for r in rows])

    def read_all(self) -> int:
        after, total = 0, 0
        while True:
            rows = self.conn.execute(f"{_SELECT} WHERE position > ? ORDER BY position LIMIT ?", (after, PAGE))
            decoded = [self._decode(r) for r in rows]
            total += len(decoded)
            if len(decoded) < PAGE:
                return total
            after = decoded[-1][0]

    def close(self) -> None:
        self.conn.close()


class RawPostgresSubject(Subject):
    """psycopg directly: BEGIN; INSERT … (pipelined executemany); COMMIT. jsonb/timestamptz decoded by psycopg."""

    name = "raw"

    def __init__(self, prefix: str, url: str) -> None:
        super().__init__(prefix)
        self.conn = psycopg.connect(url, autocommit=True)
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(724105)")
            self.conn.execute(EVENTLOG.script("postgresql").encode())
            self.conn.execute("CREATE SEQUENCE IF NOT EXISTS raw_position_seq")
        self.insert = (
            f"INSERT INTO eventlog_events (position, {_COLUMNS}) "
            "VALUES (nextval('raw_position_seq'),%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
        )

    def _write(self, stream: str, after: int, n: int) -> None:
        now = datetime.now(UTC)
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(self.insert, [_row(stream, after + k + 1, now) for k in range(n)])

    def append(self, n: int) -> int:
        i = self.next_stream()
        self._write(f"{self.prefix}-{i}", self.versions[i], n)
        self.versions[i] += n
        return n

    def append_to(self, stream: str, n: int) -> None:
        row = self.conn.execute(f"SELECT max(version) FROM eventlog_events WHERE {_STREAM} = %s", (stream,)).fetchone()
        self._write(stream, int(row[0] or 0) if row else 0, n)

    def read_stream(self, stream: str) -> int:
        cur = self.conn.execute(
            f"{_SELECT} WHERE {_STREAM} = %s AND version >= 1 ORDER BY version", (stream,), prepare=True
        )
        return len(cur.fetchall())

    def read_all(self) -> int:
        after, total = 0, 0
        while True:
            cur = self.conn.execute(
                f"{_SELECT} WHERE position > %s ORDER BY position LIMIT %s", (after, PAGE), prepare=True
            )
            rows = cur.fetchall()
            total += len(rows)
            if len(rows) < PAGE:
                return total
            after = rows[-1][0]

    def close(self) -> None:
        self.conn.close()


# ---- measuring -------------------------------------------------------------------------------------------------


def run_for(op: Op, seconds: float) -> float:
    """Run `op` repeatedly for about `seconds`; return events per second."""
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        count += op()
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def run_threads(ops: Sequence[Op], seconds: float) -> float:
    """Run each op in its own thread for about `seconds`; return the combined events per second."""
    counts = [0] * len(ops)
    barrier = threading.Barrier(len(ops) + 1)
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            barrier.wait()
            while not stop.is_set():
                counts[k] += ops[k]()
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(ops))]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return sum(counts) / elapsed


Runner = Callable[[float], float]  # given a duration, measure and return events per second


def measure(label: str, runners: dict[str, Runner], settings: Settings) -> dict[str, float]:
    """Warm up every implementation, then run interleaved trials (rotating the order); return medians."""
    return {name: statistics.median(values) for name, values in trials(label, runners, settings).items()}


def trials(label: str, runners: dict[str, Runner], settings: Settings) -> dict[str, list[float]]:
    """Warm up every implementation, then run interleaved trials (rotating the order); return every trial's rate."""
    for runner in runners.values():
        runner(settings.warmup_s)
    samples: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for trial in range(settings.trials):
        order = names[trial % len(names) :] + names[: trial % len(names)]
        for name in order:
            samples[name].append(runners[name](settings.trial_s))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    log(
        f"  {label:<22} "
        + "  ".join(f"{n}={medians[n]:>9,.0f}/s (spread {min(v):,.0f}-{max(v):,.0f})" for n, v in samples.items())
    )
    return samples


def figure(name: str, values: dict[str, float]) -> dict[str, Any]:
    """One output record: the three rates and datastrata's ratios against the other two."""
    ds, es, raw = values["datastrata"], values["eventsourcing"], values["raw"]
    return {
        "name": name,
        "unit": "events/s",
        "datastrata": round(ds, 1),
        "eventsourcing": round(es, 1),
        "raw": round(raw, 1),
        "ratio_vs_eventsourcing": round(ds / es, 3) if es else None,
        "ratio_vs_raw": round(ds / raw, 3) if raw else None,
    }


def bench_engine(engine: str, subjects: dict[str, Subject], settings: Settings) -> list[dict[str, Any]]:
    """Load the read data set, then measure reads and appends for every implementation on one engine."""
    log(f"[{engine}] loading {settings.read_all_events:,} events per implementation")
    for subject in subjects.values():
        load_read_set(subject, settings)
    for name, subject in subjects.items():
        assert subject.read_stream("reader") == READ_STREAM_EVENTS, name
        assert subject.read_all() == settings.read_all_events, name
    log(f"[{engine}] measuring ({settings.trials} trials x {settings.trial_s}s, median)")
    return [
        figure(f"{engine}_{op}", measure(op, {name: bind(make(s)) for name, s in subjects.items()}, settings))
        for op, make in OPS.items()
    ]


def load_read_set(subject: Subject, settings: Settings) -> None:
    """Store the data set the read figures read: one 1000-event stream, then fillers up to the global log's size."""
    subject.append_to("reader", READ_STREAM_EVENTS)
    for k in range((settings.read_all_events - READ_STREAM_EVENTS) // 100):
        subject.append_to(f"filler-{k % 50}", 100)


def bind(op: Op) -> Runner:
    """A runner that repeats `op` for the duration it is given."""
    return lambda seconds: run_for(op, seconds)


def _read_stream_op(subject: Subject) -> Op:
    return lambda: subject.read_stream("reader")


def _read_all_op(subject: Subject) -> Op:
    return subject.read_all


def _append_op(n: int) -> Callable[[Subject], Op]:
    return lambda subject: lambda: subject.append(n)


#: Each single-writer figure: its name and how to make its unit of work from a subject.
OPS: dict[str, Callable[[Subject], Op]] = {
    "read_stream": _read_stream_op,
    "read_all": _read_all_op,
    "append_1": _append_op(1),
    "append_100": _append_op(100),
}


# ---- engines ---------------------------------------------------------------------------------------------------


def bench_sqlite(workdir: Path, settings: Settings, machine: dict[str, Any]) -> list[dict[str, Any]]:
    """All SQLite figures; each implementation on its own file in the same directory."""
    ds = DatastrataSubject("acct", f"sqlite:///{workdir / 'datastrata.db'}?synchronous=FULL")
    datastore, recorder = es_sqlite_recorder(workdir / "eventsourcing.db")
    es = EventsourcingSubject("acct", datastore, recorder)
    raw = RawSqliteSubject("acct", workdir / "raw.db")
    subjects: dict[str, Subject] = {"datastrata": ds, "eventsourcing": es, "raw": raw}
    try:
        with ds.db.read() as tx:  # the calling thread's connection is the one the benchmark uses
            ds_sync = int(tx.scalar("PRAGMA synchronous"))
            ds_mode = str(tx.scalar("PRAGMA journal_mode"))
        es_conn = datastore.pool.get_connection(is_writer=False)
        try:
            with es_conn.cursor() as cur:
                es_sync = int(cur.execute("PRAGMA synchronous").fetchone()[0])
                es_mode = str(cur.execute("PRAGMA journal_mode").fetchone()[0])
        finally:
            datastore.pool.put_connection(es_conn)
        raw_sync = int(raw.conn.execute("PRAGMA synchronous").fetchone()[0])
        raw_mode = str(raw.conn.execute("PRAGMA journal_mode").fetchone()[0])
        machine["sqlite"] = {
            "version": sqlite3.sqlite_version,
            "journal_mode": {"datastrata": ds_mode, "eventsourcing": es_mode, "raw": raw_mode},
            "synchronous": {"datastrata": ds_sync, "eventsourcing": es_sync, "raw": raw_sync},
        }
        if {ds_sync, es_sync, raw_sync} != {2} or {ds_mode, es_mode, raw_mode} != {"wal"}:
            raise RuntimeError(f"SQLite durability differs between implementations: {machine['sqlite']}")
        return bench_engine("sqlite", subjects, settings)
    finally:
        for subject in subjects.values():
            subject.close()


def bench_postgres(settings: Settings, machine: dict[str, Any]) -> list[dict[str, Any]]:
    """All PostgreSQL figures on a throwaway server with fsync and synchronous_commit on."""
    log("[pg] starting a throwaway PostgreSQL server (fsync=on)")
    with ephemeral_postgres(fsync=True) as base, ExitStack() as stack:
        urls = {name: migrated(create_database(base, f"bench_{name}")) for name in IMPLS}
        with psycopg.connect(urls["raw"]) as conn:
            machine["postgresql"] = {
                setting: str(conn.execute(f"SHOW {setting}").fetchone()[0])  # type: ignore[index]
                for setting in ("server_version", "fsync", "synchronous_commit", "wal_sync_method")
            }
        ds = DatastrataSubject("acct", urls["datastrata"])
        es = EventsourcingSubject("acct", *es_postgres_recorder(urls["eventsourcing"]))
        raw = RawPostgresSubject("acct", urls["raw"])
        subjects: dict[str, Subject] = {"datastrata": ds, "eventsourcing": es, "raw": raw}
        for subject in subjects.values():
            stack.callback(subject.close)
        figures = bench_engine("pg", subjects, settings)

        log("[pg] concurrent writers: 4 threads, each its own connection, 1 event per transaction")
        makers: dict[str, Callable[[str], Subject]] = {
            "datastrata": lambda p: DatastrataSubject(p, urls["datastrata"]),
            "eventsourcing": lambda p: EventsourcingSubject(p, *es_postgres_recorder(urls["eventsourcing"])),
            "raw": lambda p: RawPostgresSubject(p, urls["raw"]),
        }
        writers: dict[str, list[Subject]] = {}
        for name, make in makers.items():
            writers[name] = [make(f"w{k}") for k in range(4)]
            for w in writers[name]:
                stack.callback(w.close)

        def threaded(name: str, count: int) -> Runner:
            ops: list[Op] = [OPS["append_1"](w) for w in writers[name][:count]]
            return lambda seconds: run_threads(ops, seconds)

        four = measure("concurrent_4", {n: threaded(n, 4) for n in IMPLS}, settings)
        one = measure("1_writer", {n: threaded(n, 1) for n in IMPLS}, settings)
        figures.append(figure("pg_concurrent_4", four))
        figures.append(figure("datastrata_1_writer", one))
        log(
            f"  scaling 4 vs 1 writer: datastrata {four['datastrata'] / one['datastrata']:.2f}x, "
            f"eventsourcing {four['eventsourcing'] / one['eventsourcing']:.2f}x, raw {four['raw'] / one['raw']:.2f}x"
        )
        return figures


def machine_info(settings: Settings) -> dict[str, Any]:
    """What the figures were measured on and how."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "eventsourcing": dist_version("eventsourcing"),
        "psycopg": dist_version("psycopg"),
        "payload_bytes": len(json.dumps(PAYLOAD, separators=(",", ":"), sort_keys=True)),
        "trials": settings.trials,
        "trial_seconds": settings.trial_s,
        "warmup_seconds": settings.warmup_s,
        "read_stream_events": READ_STREAM_EVENTS,
        "read_all_events": settings.read_all_events,
        "page_size": PAGE,
        "statistic": "median events/s over interleaved trials",
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


@contextmanager
def scratch_dir() -> Iterator[Path]:
    """A temporary directory on the local disk for the SQLite files."""
    with tempfile.TemporaryDirectory(prefix="datastrata-bench-") as name:
        yield Path(name)


def options(argv: Sequence[str] | None, doc: str | None, quick: str) -> argparse.Namespace:
    """The command line of an event-log benchmark: ``--quick`` (described by `quick`) and ``--no-postgres``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL figures")
    return parser.parse_args(argv)


def both_engines(
    sqlite: Callable[[Path], list[dict[str, Any]]],
    postgres: Callable[[], list[dict[str, Any]]],
    machine: dict[str, Any],
    *,
    with_postgres: bool,
) -> list[dict[str, Any]]:
    """The SQLite figures (files in a scratch directory), then PostgreSQL's unless skipped or no server can start."""
    figures: list[dict[str, Any]] = []
    with scratch_dir() as workdir:
        figures += sqlite(workdir)
    if with_postgres:
        try:
            figures += postgres()
        except ServerUnavailable as exc:
            log(f"[pg] skipped: {exc}")
            machine["postgresql"] = f"skipped: {exc}"
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the JSON report."""
    args = options(argv, __doc__, "short trials (under a minute)")
    settings = QUICK if args.quick else FULL
    machine = machine_info(settings)
    started = time.perf_counter()
    figures = both_engines(
        lambda workdir: bench_sqlite(workdir, settings, machine),
        lambda: bench_postgres(settings, machine),
        machine,
        with_postgres=not args.no_postgres,
    )
    order = [
        "sqlite_append_1",
        "sqlite_append_100",
        "sqlite_read_stream",
        "sqlite_read_all",
        "pg_append_1",
        "pg_append_100",
        "pg_read_stream",
        "pg_read_all",
        "pg_concurrent_4",
        "datastrata_1_writer",
    ]
    figures.sort(key=lambda f: order.index(f["name"]))
    machine["wall_seconds"] = round(time.perf_counter() - started, 1)
    machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    log(f"done in {machine['wall_seconds']}s")
    json.dump({"figures": figures, "machine": machine, "mode": settings.mode}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
