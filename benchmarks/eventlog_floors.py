"""What the drivers alone can do, measured beside eventsourcing: the ceiling for issue 3's ratio goals.

Issue 3 asks datastrata for N x eventsourcing. A goal is within reach only if the driver, doing the least work that
still stores or returns the same events at the same durability, reaches N x eventsourcing on this machine. This
script measures that least work ("floor") beside eventsourcing, interleaved trial by trial as in eventlog.py:

* ``append_1`` — SQLite: ``BEGIN IMMEDIATE; INSERT; COMMIT``. PostgreSQL: one ``INSERT`` in autocommit (one round
  trip, one commit), positions counted in Python, no checks at all.
* ``append_100`` — SQLite: ``executemany`` of 100 rows in one transaction. PostgreSQL: one ``INSERT … SELECT`` from
  a JSON array parameter in autocommit (one round trip; it beat ``COPY`` inside a transaction, which needs three).
* ``read_stream`` / ``read_all`` — the same SELECT as datastrata, each row kept as the driver returns it plus its
  decoded payload, metadata and (SQLite) times: the least an application can do to use the values (no event
  objects, no paging bookkeeping). ``fetch_only`` skips even that: the driver's rows as they come.

Usage::

    .venv/bin/python benchmarks/eventlog_floors.py            # 5 trials of 1 s per figure
    .venv/bin/python benchmarks/eventlog_floors.py --quick    # 3 trials of 0.25 s

JSON goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from datastrata.testing.servers import create_database, ephemeral_postgres

sys.path.insert(0, str(Path(__file__).parent))
from eventlog import (  # the sibling benchmark, imported from this directory
    _COLUMNS,
    FULL,
    OPS,
    PAGE,
    QUICK,
    EventsourcingSubject,
    RawPostgresSubject,
    RawSqliteSubject,
    Settings,
    _row,
    bind,
    es_postgres_recorder,
    es_sqlite_recorder,
    load_read_set,
    log,
    measure,
    scratch_dir,
)

#: Issue 3's goals, as multiples of eventsourcing.
GOALS = {
    "sqlite_append_1": 1.5,
    "sqlite_append_100": 3.0,
    "sqlite_read_stream": 4.0,
    "sqlite_read_all": 4.0,
    "pg_append_1": 3.0,
    "pg_append_100": 3.0,
    "pg_read_all": 4.0,
}
_SELECT = f"SELECT position, {_COLUMNS} FROM eventlog_events"
#: One stream of the default tenant (streams are per tenant: the unique index leads with the tenant).
_STREAM = "tenant_id = 'default' AND stream_id"
_loads = orjson.loads


def _decoded_sqlite(rows: list[Any]) -> list[tuple[Any, ...]]:
    iso = datetime.fromisoformat
    return [(r, _loads(r[7]), _loads(r[8]), iso(r[9]), iso(r[10])) for r in rows]


def _decoded_pg(rows: list[Any]) -> list[tuple[Any, ...]]:
    return [(r, _loads(r[7]), _loads(r[8])) for r in rows]


class SqliteFloor(RawSqliteSubject):
    """sqlite3 with nothing but the SQL: appends as the raw loop, reads with the least decoding."""

    def __init__(self, prefix: str, path: Path, *, decode: bool) -> None:
        super().__init__(prefix, path)
        self.decode, self.decoder = decode, _decoded_sqlite

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self.conn.execute(sql, params).fetchall()

    def read_stream(self, stream: str) -> int:
        return _count(self, f"{_SELECT} WHERE {_STREAM} = ? AND version >= 1 ORDER BY version", (stream,))

    def read_all(self) -> int:
        return _page_through(self, f"{_SELECT} WHERE position > ? ORDER BY position LIMIT ?")


class PostgresFloor(RawPostgresSubject):
    """psycopg with nothing but the SQL: one-statement and COPY appends, reads with the least decoding."""

    def __init__(self, prefix: str, url: str, *, decode: bool, positions_from: int | None = None) -> None:
        super().__init__(prefix, url)
        self.decode, self.decoder = decode, _decoded_pg
        self.single = (
            f"INSERT INTO eventlog_events (position, {_COLUMNS}) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s::jsonb,%s::jsonb,%s,%s)"
        )
        self.many = (
            f"INSERT INTO eventlog_events (position, {_COLUMNS}) SELECT (r->>0)::bigint, r->>1, r->>2, (r->>3)::int, "
            "r->>4, r->>5, (r->>6)::int, (r->>7)::jsonb, (r->>8)::jsonb, (r->>9)::timestamptz, (r->>10)::timestamptz "
            "FROM jsonb_array_elements(%s::jsonb) AS b(r)"
        )
        self.select = _SELECT.replace("payload, metadata", "payload::text, metadata::text")
        row = self.conn.execute("SELECT coalesce(max(position), 0) FROM eventlog_events").fetchone()
        # Positions are numbered here (one writer per floor table, or each concurrent writer its own range).
        self.position = (int(row[0]) if row else 0) if positions_from is None else positions_from

    def _write(self, stream: str, after: int, n: int) -> None:
        now = datetime.now(UTC)
        rows = [_row(stream, after + k + 1, now) for k in range(n)]
        if n == 1:
            self.position += 1
            self.conn.execute(self.single, (self.position, *rows[0]), prepare=True)  # autocommit: one round trip
            return
        batch = orjson.dumps([(self.position + k + 1, *row) for k, row in enumerate(rows)]).decode()
        self.position += n
        self.conn.execute(self.many, (batch,), prepare=True)

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self.conn.execute(sql, params, prepare=True).fetchall()

    def read_stream(self, stream: str) -> int:
        return _count(self, f"{self.select} WHERE {_STREAM} = %s AND version >= 1 ORDER BY version", (stream,))

    def read_all(self) -> int:
        return _page_through(self, f"{self.select} WHERE position > %s ORDER BY position LIMIT %s")


def _count(floor: Any, sql: str, params: Sequence[Any]) -> int:
    """Fetch (and unless fetch-only, decode) one result; return how many events."""
    rows = floor._rows(sql, params)
    return len(floor.decoder(rows) if floor.decode else rows)


def _page_through(floor: Any, sql: str) -> int:
    """Read the whole global log a page at a time, decoding each page unless fetch-only; return the count."""
    after, total = 0, 0
    while True:
        rows = floor._rows(sql, (after, PAGE))
        total += len(floor.decoder(rows) if floor.decode else rows)
        if len(rows) < PAGE:
            return total
        after = rows[-1][0]


def _figures(engine: str, es: Any, floor: Any, bare: Any, settings: Settings) -> list[dict[str, Any]]:
    """Measure eventsourcing beside the floor (and the fetch-only floor for reads) on one engine."""
    out = []
    for name, make in OPS.items():
        subjects = {"eventsourcing": es, "floor": floor}
        if name.startswith("read"):
            subjects["fetch_only"] = bare
        runners = {k: bind(make(s)) for k, s in subjects.items()}
        medians = measure(f"{engine}_{name}", runners, settings)
        record: dict[str, Any] = {"name": f"{engine}_{name}", "unit": "events/s"}
        for k, v in medians.items():
            record[k] = round(v, 1)
            if k != "eventsourcing":
                record[f"{k}_vs_eventsourcing"] = round(v / medians["eventsourcing"], 3)
        record["goal_vs_eventsourcing"] = GOALS.get(record["name"])
        out.append(record)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Measure the floors on SQLite and PostgreSQL and print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short trials")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    figures: list[dict[str, Any]] = []
    with scratch_dir() as workdir, ExitStack() as stack:
        log("[sqlite] floors beside eventsourcing")
        es = EventsourcingSubject("acct", *es_sqlite_recorder(workdir / "es.db"))
        floor = SqliteFloor("acct", workdir / "floor.db", decode=True)
        bare = SqliteFloor("acct", workdir / "floor.db", decode=False)
        for subject in (es, floor, bare):
            stack.callback(subject.close)
        for subject in (es, floor):
            load_read_set(subject, settings)
        if floor.conn.execute("PRAGMA synchronous").fetchone()[0] != 2:
            raise RuntimeError("the SQLite floor must run with synchronous=FULL")
        figures += _figures("sqlite", es, floor, bare, settings)
    with ephemeral_postgres(fsync=True) as base, ExitStack() as stack:
        log("[pg] floors beside eventsourcing")
        es = EventsourcingSubject("acct", *es_postgres_recorder(create_database(base, "bench_es")))
        url = create_database(base, "bench_floor")
        pg_floor = PostgresFloor("acct", url, decode=True)
        pg_bare = PostgresFloor("acct", url, decode=False)
        for pg_subject in (es, pg_floor, pg_bare):
            stack.callback(pg_subject.close)
        for pg_subject in (es, pg_floor):
            load_read_set(pg_subject, settings)
        figures += _figures("pg", es, pg_floor, pg_bare, settings)
    json.dump({"figures": figures, "mode": settings.mode}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
