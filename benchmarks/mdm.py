"""Master data: cache-aside reads (in-process, Redis, miss), ``as_of`` reads over many versions, write throughput.

Figures, side by side in one run:

* ``cache_hit_memory`` — ``CachedReader.get`` through the in-process cache (goal: p50 <= 20 us), next to a bare
  ``MemoryCache.get`` of the same entry;
* ``cache_hit_redis`` — ``CachedReader.get`` through Redis, next to a bare redis-py ``GET`` of the same value on
  its own connection (goal: <= 1.5x the bare GET at p50); trials interleaved;
* ``cache_miss_<engine>`` — invalidate, then ``get``: one fenced load from the store (SQLite file, PostgreSQL);
* ``as_of_<engine>`` / ``as_known_at_<engine>`` — ``store.get(as_of=…)`` (and with ``as_known_at``) at random
  keys and times with the versions table holding ``--versions`` rows (default 1,000,000; goal: p50 <= 1 ms on both
  engines), next to the same SQL run by the raw driver;
* ``write_<engine>`` — ``store.put`` (a new version of a rotating key: close, remainder, current, event, audit, one
  transaction) per second, next to a raw-driver loop inserting one row per transaction.

The full mode loads the versions with bulk SQL that keeps the store's invariants by construction: per key, 100
consecutive daily valid periods recorded twice — an original recorded [R0, R1), superseded by a correction
recorded [R1, now) — so no two versions of a key overlap in both valid and recorded time; PostgreSQL re-checks that
with its exclusion constraint (dropped for the COPY, re-added after), SQLite with the overlap triggers re-created
after the load and checked for a sample of keys. ``--quick`` writes fewer versions through ``store.put`` instead,
and labels the figures with the count.

Usage::

    .venv/bin/python benchmarks/mdm.py            # full: 1M versions per engine, several minutes
    .venv/bin/python benchmarks/mdm.py --quick    # under a minute

JSON goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis

from datastrata.core.clock import system_clock
from datastrata.mdm import MasterDataStore
from datastrata.mdm.cache import CachedReader
from datastrata.mdm.schema import SQLITE
from datastrata.runtime import Location
from datastrata.stores.cache import MemoryCache, RedisCache
from datastrata.stores.database import Database, time_to_db
from datastrata.stores.open import open_database
from datastrata.testing.servers import (
    ServerUnavailable,
    create_database,
    ephemeral_postgres,
    ephemeral_redis,
    migrated,
)

T0 = datetime(2000, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
PERIODS = 100  # valid periods per key in the bulk load (two versions each)
R0 = datetime(2001, 1, 1, tzinfo=UTC)
R1 = datetime(2002, 1, 1, tzinfo=UTC)
HOT_KEYS = 1000
CUSTOMER = {"name": "Customer", "email": "c@example.com", "address": "1-1 Chiyoda, Tokyo", "credit_tier": "gold"}


@dataclass(frozen=True)
class Mode:
    """How much is loaded and how long each figure is measured."""

    name: str
    samples: int
    trials: int
    write_seconds: float
    quick_keys: int
    quick_puts_per_key: int


QUICK = Mode("quick", samples=2000, trials=3, write_seconds=1.0, quick_keys=40, quick_puts_per_key=25)
FULL = Mode("full", samples=10000, trials=5, write_seconds=3.0, quick_keys=0, quick_puts_per_key=0)


def log(message: str) -> None:
    """Progress to stderr."""
    print(message, file=sys.stderr, flush=True)


# ---- measuring -------------------------------------------------------------------------------------------------


def latencies(op: Callable[[int], Any], n: int) -> list[float]:
    """Call `op(i)` n times; return each call's latency in microseconds."""
    out = []
    clock = time.perf_counter_ns
    for i in range(n):
        start = clock()
        op(i)
        out.append((clock() - start) / 1000)
    return out


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / p99 in microseconds."""
    ordered = sorted(values)
    return {
        "p50_us": round(statistics.median(ordered), 2),
        "p95_us": round(ordered[int(len(ordered) * 0.95) - 1], 2),
        "p99_us": round(ordered[int(len(ordered) * 0.99) - 1], 2),
    }


def side_by_side(ops: dict[str, Callable[[int], Any]], mode: Mode) -> dict[str, dict[str, float]]:
    """Warm up, then interleave trials of each op (rotating the order); return p50/p95/p99 over all samples."""
    for op in ops.values():
        latencies(op, min(200, mode.samples))
    samples: dict[str, list[float]] = {name: [] for name in ops}
    names = list(ops)
    for trial in range(mode.trials):
        for name in names[trial % len(names) :] + names[: trial % len(names)]:
            samples[name] += latencies(ops[name], mode.samples // mode.trials)
    return {name: summary(values) for name, values in samples.items()}


def rate(op: Callable[[int], Any], seconds: float) -> float:
    """Run `op` for about `seconds`; return calls per second."""
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        op(count)
        count += 1
    return count / elapsed


# ---- loading versions ------------------------------------------------------------------------------------------


def bulk_rows(keys: int, dialect: str) -> Iterator[tuple[Any, ...]]:
    """Rows of master_data_versions: per key, PERIODS daily periods, each recorded as original and correction."""

    def t(value: datetime | None) -> Any:
        return None if value is None else time_to_db("sqlite", value) if dialect == "sqlite" else value

    r0, r1 = t(R0), t(R1)
    for k in range(keys):
        key = f"K{k:07d}"
        for p in range(PERIODS):
            start = T0 + p * DAY
            end = None if p == PERIODS - 1 else start + DAY
            vf, vt = t(start), t(end)
            for tag, rec_from, rec_to in (("o", r0, r1), ("c", r1, None)):
                attributes = json.dumps({**CUSTOMER, "name": f"Customer {k} {tag}{p}"}, separators=(",", ":"))
                yield (
                    f"{key}-{tag}{p}",
                    "default",
                    "customer",
                    key,
                    attributes,
                    False if dialect == "postgresql" else 0,
                    vf,
                    vt,
                    rec_from,
                    rec_to,
                    "bench",
                    "",
                    f"{key}-{tag}{p}",
                    None,
                    rec_from,
                )


_COLUMNS = (
    "version_id, tenant_id, entity_type, entity_key, attributes, retired, valid_from, valid_to, "
    "recorded_from, recorded_to, actor, reason, change_id, derived_from, activated_at"
)
_CURRENT = (
    "INSERT INTO master_data_current (version_id, tenant_id, entity_type, entity_key, attributes, valid_from, "
    "valid_to, recorded_from, actor, reason, change_id, derived_from, activated_at, updated_at) "
    "SELECT version_id, tenant_id, entity_type, entity_key, attributes, valid_from, valid_to, recorded_from, actor, "
    "reason, change_id, derived_from, activated_at, recorded_from FROM master_data_versions "
    "WHERE recorded_to IS NULL AND valid_to IS NULL"
)


def bulk_load_sqlite(path: Path, keys: int) -> None:
    """Insert keys x PERIODS x 2 versions with the overlap triggers off, then re-create and sample-check them."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("DROP TRIGGER master_data_versions_no_overlap_insert")
    conn.execute("DROP TRIGGER master_data_versions_no_overlap_update")
    conn.execute("BEGIN")
    conn.executemany(
        f"INSERT INTO master_data_versions ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        bulk_rows(keys, "sqlite"),
    )
    conn.execute(_CURRENT)
    conn.execute("COMMIT")
    conn.executescript(SQLITE)  # IF NOT EXISTS: re-creates exactly the triggers dropped above
    overlaps = conn.execute(
        "SELECT count(*) FROM master_data_versions n JOIN master_data_versions o "
        "ON o.tenant_id = n.tenant_id AND o.entity_type = n.entity_type AND o.entity_key = n.entity_key "
        "AND o.version_id <> n.version_id "
        "AND (n.valid_to IS NULL OR o.valid_from < n.valid_to) AND (o.valid_to IS NULL OR n.valid_from < o.valid_to) "
        "AND (n.recorded_to IS NULL OR o.recorded_from < n.recorded_to) "
        "AND (o.recorded_to IS NULL OR n.recorded_from < o.recorded_to) "
        "WHERE n.entity_key IN (SELECT DISTINCT entity_key FROM master_data_versions ORDER BY random() LIMIT 50)"
    ).fetchone()[0]
    conn.execute("ANALYZE")
    conn.close()
    if overlaps:
        raise RuntimeError(f"bulk load broke the no-overlap invariant ({overlaps} overlapping pairs)")


def bulk_load_postgres(url: str, keys: int) -> None:
    """COPY keys x PERIODS x 2 versions with the exclusion constraint off, then re-add it (which re-checks all)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE master_data_versions DROP CONSTRAINT master_data_versions_no_overlap")
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(f"COPY master_data_versions ({_COLUMNS}) FROM STDIN") as copy:
                for row in bulk_rows(keys, "postgresql"):
                    copy.write_row(row)
            cur.execute(_CURRENT)
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute(
            "ALTER TABLE master_data_versions ADD CONSTRAINT master_data_versions_no_overlap EXCLUDE USING gist ("
            "tenant_id WITH =, entity_type WITH =, entity_key WITH =, "
            "tstzrange(valid_from, valid_to, '[)') WITH &&, tstzrange(recorded_from, recorded_to, '[)') WITH &&)"
        )
        conn.execute("VACUUM ANALYZE master_data_versions")
        conn.execute("ANALYZE master_data_current")


def load_through_store(store: MasterDataStore, keys: int, puts: int) -> int:
    """Quick mode: each put opens a new daily period, closing and re-recording the previous open one."""
    for k in range(keys):
        for p in range(puts):
            store.put(
                "customer",
                f"K{k:07d}",
                {**CUSTOMER, "name": f"Customer {k} {p}"},
                valid_from=T0 + p * DAY,
                actor="bench",
            )
    with store.units.read(store.scope()) as tx:
        return int(tx.scalar("SELECT count(*) FROM master_data_versions"))


# ---- the figures -----------------------------------------------------------------------------------------------


def bench_reads(engine: str, store: MasterDataStore, raw: Callable[[str, datetime], Any], keys: int, mode: Mode):
    """as_of and as_known_at reads at random keys and valid times, next to the raw driver running the same SQL."""
    rng = random.Random(7)
    picks = [(f"K{rng.randrange(keys):07d}", T0 + rng.random() * PERIODS * DAY) for _ in range(mode.samples)]
    known = R0 + (R1 - R0) / 2

    def as_of(i: int) -> Any:
        key, when = picks[i % len(picks)]
        return store.get("customer", key, as_of=when)

    def as_known_at(i: int) -> Any:
        key, when = picks[i % len(picks)]
        return store.get("customer", key, as_of=when, as_known_at=known)

    def raw_as_of(i: int) -> Any:
        key, when = picks[i % len(picks)]
        return raw(key, when)

    assert as_of(0) is not None
    return side_by_side({"datastrata": as_of, "as_known_at": as_known_at, "raw": raw_as_of}, mode)


def raw_sqlite_reader(path: Path) -> Callable[[str, datetime], Any]:
    """The store's as_of query on a bare sqlite3 connection, decoding the JSON attributes."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    sql = (
        f"SELECT {_COLUMNS} FROM master_data_versions WHERE tenant_id = ? AND entity_type = ? AND entity_key = ? "
        "AND valid_from <= ? AND (valid_to IS NULL OR valid_to > ?) AND recorded_to IS NULL "
        "ORDER BY recorded_from DESC LIMIT 1"
    )

    def read(key: str, when: datetime) -> Any:
        at = time_to_db("sqlite", when)
        row = conn.execute(sql, ("default", "customer", key, at, at)).fetchone()
        return json.loads(row[4])

    return read


def raw_postgres_reader(url: str) -> Callable[[str, datetime], Any]:
    """The store's as_of query on a bare psycopg connection (autocommit, prepared)."""
    conn = psycopg.connect(url, autocommit=True)
    sql = (
        f"SELECT {_COLUMNS} FROM master_data_versions WHERE tenant_id = %s AND entity_type = %s "
        "AND entity_key = %s AND valid_from <= %s AND (valid_to IS NULL OR valid_to > %s) AND recorded_to IS NULL "
        "ORDER BY recorded_from DESC LIMIT 1"
    )

    def read(key: str, when: datetime) -> Any:
        row = conn.execute(sql, ("default", "customer", key, when, when), prepare=True).fetchone()
        return row[4] if row else None

    return read


def bench_writes(engine: str, db: Database, raw_insert: Callable[[int], Any], mode: Mode) -> dict[str, float]:
    """store.put per second on rotating keys vs a raw-driver single-row insert per transaction."""
    store = MasterDataStore(Location.over(db))
    counter = [0]

    def put(i: int) -> Any:
        counter[0] += 1
        return store.put("customer", f"W{counter[0] % 100:03d}", {**CUSTOMER, "name": f"n{counter[0]}"}, actor="b")

    results: dict[str, list[float]] = {"datastrata": [], "raw": []}
    ops = {"datastrata": put, "raw": raw_insert}
    rate(put, 0.3)
    rate(raw_insert, 0.3)
    for trial in range(mode.trials):
        for name in ["datastrata", "raw"] if trial % 2 == 0 else ["raw", "datastrata"]:
            results[name].append(rate(ops[name], mode.write_seconds / mode.trials))
    return {name: round(statistics.median(values), 1) for name, values in results.items()}


def raw_sqlite_writer(path: Path) -> Callable[[int], Any]:
    """One row per BEGIN IMMEDIATE … COMMIT into a table shaped like master_data_versions (no triggers)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(SQLITE)
    conn.execute("CREATE TABLE IF NOT EXISTS bench_raw AS SELECT * FROM master_data_versions WHERE 0")
    body = json.dumps(CUSTOMER)
    now = time_to_db("sqlite", system_clock())

    def insert(i: int) -> Any:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            f"INSERT INTO bench_raw ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (f"r{time.perf_counter_ns()}", "default", "customer", "R", body, 0, now, None, now, None, "b", "", "c",
             None, now),
        )  # fmt: skip
        conn.execute("COMMIT")

    return insert


def raw_postgres_writer(url: str) -> Callable[[int], Any]:
    """One row per transaction into a table shaped like master_data_versions (no constraints)."""
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("CREATE TABLE IF NOT EXISTS bench_raw (LIKE master_data_versions)")
    body = json.dumps(CUSTOMER)
    now = system_clock()

    def insert(i: int) -> Any:
        with conn.transaction():
            conn.execute(
                f"INSERT INTO bench_raw ({_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (f"r{time.perf_counter_ns()}", "default", "customer", "R", body, False, now, None, now, None, "b",
                 "", "c", None, now),
                prepare=True,
            )  # fmt: skip

    return insert


def bench_cache(store: MasterDataStore, redis_url: str, mode: Mode) -> list[dict[str, Any]]:
    """Hits through the in-process cache and Redis next to bare gets; misses on the store's engine."""
    now = system_clock()
    for k in range(HOT_KEYS):
        store.put("customer", f"H{k:04d}", {**CUSTOMER, "name": f"Hot {k}"}, valid_from=now - DAY, actor="b")
    rng = random.Random(3)
    keys = [f"H{rng.randrange(HOT_KEYS):04d}" for _ in range(mode.samples)]
    figures: list[dict[str, Any]] = []

    memory = MemoryCache()
    reader = CachedReader(store, memory)
    for key in set(keys):
        reader.get("customer", key)
    cache_keys = [reader.cache_key("customer", k) for k in keys]
    mem = side_by_side(
        {
            "datastrata": lambda i: reader.get("customer", keys[i % len(keys)]),
            "bare_memory_get": lambda i: memory.get(cache_keys[i % len(keys)]),
        },
        mode,
    )
    figures.append(
        {
            "name": "cache_hit_memory",
            "unit": "us",
            **mem,
            "goal": "p50 <= 20 us",
            "met": mem["datastrata"]["p50_us"] <= 20,
        }
    )
    log(f"  cache_hit_memory {mem}")
    reader.close()

    redis_cache = RedisCache(redis_url)
    rreader = CachedReader(store, redis_cache)
    for key in set(keys):
        rreader.get("customer", key)
    bare = redis.Redis.from_url(redis_url)
    full_keys = [redis_cache.prefix + rreader.cache_key("customer", k) for k in keys]
    assert bare.get(full_keys[0]) is not None
    red = side_by_side(
        {
            "datastrata": lambda i: rreader.get("customer", keys[i % len(keys)]),
            "bare_redis_get": lambda i: bare.get(full_keys[i % len(keys)]),
        },
        mode,
    )
    ratio = red["datastrata"]["p50_us"] / red["bare_redis_get"]["p50_us"]
    figures.append(
        {"name": "cache_hit_redis", "unit": "us", **red, "ratio_p50_vs_bare_get": round(ratio, 3),
         "goal": "p50 <= 1.5x bare redis-py GET", "met": ratio <= 1.5}
    )  # fmt: skip
    log(f"  cache_hit_redis {red} ratio {ratio:.2f}")
    rreader.close()
    bare.close()
    redis_cache.close()
    return figures


def bench_miss(engine: str, store: MasterDataStore, mode: Mode) -> dict[str, Any]:
    """Invalidate, then get: one fenced load (current value and next change) from the store."""
    memory = MemoryCache()
    reader = CachedReader(store, memory)
    rng = random.Random(5)
    keys = [f"H{rng.randrange(HOT_KEYS):04d}" for _ in range(mode.samples)]

    def miss(i: int) -> Any:
        reader.invalidate("customer", keys[i % len(keys)])
        return reader.get("customer", keys[i % len(keys)])

    def invalidate_only(i: int) -> Any:
        return reader.invalidate("customer", keys[i % len(keys)])

    result = side_by_side({"datastrata": miss, "invalidate_only": invalidate_only}, mode)
    reader.close()
    log(f"  cache_miss_{engine} {result}")
    return {"name": f"cache_miss_{engine}", "unit": "us", **result}


def bench_engine(
    engine: str,
    url: str,
    loader: Callable[[int], None],
    raw_reader: Callable[[], Callable[[str, datetime], Any]],
    raw_writer: Callable[[], Callable[[int], Any]],
    redis_url: str | None,
    mode: Mode,
    versions: int,
) -> list[dict[str, Any]]:
    """Every figure of one engine."""
    figures: list[dict[str, Any]] = []
    db = open_database(url)
    try:
        store = MasterDataStore(Location.over(db))
        started = time.perf_counter()
        if mode.name == "quick":
            keys = mode.quick_keys
            stored = load_through_store(store, keys, mode.quick_puts_per_key)
            how = f"{stored:,} versions written through store.put (quick mode)"
        else:
            keys = versions // (PERIODS * 2)
            loader(keys)
            with db.read() as tx:
                stored = int(tx.scalar("SELECT count(*) FROM master_data_versions"))
            how = f"{stored:,} versions bulk-loaded with SQL"
        log(f"[{engine}] {how} in {time.perf_counter() - started:.1f}s")
        reads = bench_reads(engine, store, raw_reader(), keys, mode)
        log(f"  as_of_{engine} {reads}")
        met = reads["datastrata"]["p50_us"] <= 1000
        figures.append(
            {"name": f"as_of_{engine}", "unit": "us", "versions": stored, "load": how,
             "datastrata": reads["datastrata"], "raw": reads["raw"], "goal": "p50 <= 1 ms", "met": met}
        )  # fmt: skip
        figures.append(
            {"name": f"as_known_at_{engine}", "unit": "us", "versions": stored, "datastrata": reads["as_known_at"]}
        )
        if redis_url is not None:
            figures += bench_cache(store, redis_url, mode)
        else:
            now = system_clock()
            for k in range(HOT_KEYS):
                store.put("customer", f"H{k:04d}", {**CUSTOMER, "name": f"Hot {k}"}, valid_from=now - DAY, actor="b")
        figures.append(bench_miss(engine, store, mode))
        writes = bench_writes(engine, db, raw_writer(), mode)
        log(f"  write_{engine} {writes}")
        figures.append(
            {"name": f"write_{engine}", "unit": "puts/s", **writes,
             "ratio_vs_raw": round(writes["datastrata"] / writes["raw"], 3)}
        )  # fmt: skip
    finally:
        db.close()
    return figures


def machine_info(mode: Mode) -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "psycopg": psycopg.__version__,
        "redis_py": redis.__version__,
        "samples_per_latency_figure": mode.samples,
        "trials": mode.trials,
        "statistic": "percentiles over all samples of interleaved trials (latency); median of trials (rates)",
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer versions (through the store) and samples")
    parser.add_argument("--versions", type=int, default=1_000_000, help="versions to bulk-load per engine (full)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL figures")
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    machine = machine_info(mode)
    started = time.perf_counter()
    figures: list[dict[str, Any]] = []
    with ExitStack() as stack:
        redis_url = stack.enter_context(ephemeral_redis())
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="datastrata-bench-mdm-")))
        path = workdir / "mdm.db"
        figures += bench_engine(
            "sqlite",
            f"sqlite:///{path}",
            lambda keys: bulk_load_sqlite(path, keys),
            lambda: raw_sqlite_reader(path),
            lambda: raw_sqlite_writer(workdir / "raw.db"),
            redis_url,
            mode,
            args.versions,
        )
        if not args.no_postgres:
            try:
                base = stack.enter_context(ephemeral_postgres(fsync=True))
            except ServerUnavailable as exc:
                log(f"[pg] skipped: {exc}")
                machine["postgresql"] = f"skipped: {exc}"
            else:
                url = migrated(create_database(base, "bench_mdm"))
                raw_url = migrated(create_database(base, "bench_raw"))  # the raw writer's table is shaped like ours
                with psycopg.connect(url) as conn:
                    machine["postgresql"] = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
                figures += bench_engine(
                    "pg",
                    url,
                    lambda keys: bulk_load_postgres(url, keys),
                    lambda: raw_postgres_reader(url),
                    lambda: raw_postgres_writer(raw_url),
                    None,
                    mode,
                    args.versions,
                )
    machine["wall_seconds"] = round(time.perf_counter() - started, 1)
    log(f"done in {machine['wall_seconds']}s")
    json.dump({"figures": figures, "machine": machine, "mode": mode.name}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
