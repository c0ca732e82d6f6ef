"""Load as every process saw it: each runtime flushes its meter's buckets to the home store's ``sharding_load``.

A flush is one transaction in the home location upserting the buckets counted into since the last one (a bucket is
rewritten while it is current), so `read_load` in any process sums the recent buckets of every process. Rows older
than :data:`RETAIN` seconds are deleted by the flush.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from datastrata.core.validation import bounded_float
from datastrata.sharding.load import BAND_SLOTS, WIDTH, BucketView, LoadMeter
from datastrata.sharding.names import check_shard
from datastrata.sharding.slots import slot_of
from datastrata.stores.database import Database, Dialect
from datastrata.stores.migrations import Component, Migration

if TYPE_CHECKING:
    from datastrata.runtime.runtime import Runtime

#: The worker job flushing a runtime's load.
LOAD_JOB = "sharding.load"
#: Seconds between flushes of one runtime.
FLUSH_EVERY = 1.0
#: The heaviest keys of each bucket a flush writes.
FLUSH_KEYS = 32
#: Seconds a flushed bucket is kept.
RETAIN = 600
#: The longest window a report reads.
MAX_WINDOW = float(RETAIN)


def _ddl(dialect: Dialect) -> str:
    whole = "INTEGER" if dialect == "sqlite" else "BIGINT"
    return f"""
CREATE TABLE IF NOT EXISTS sharding_load (
    map_name     TEXT    NOT NULL,
    window_start {whole} NOT NULL,
    process      TEXT    NOT NULL,
    shard        TEXT    NOT NULL,
    item         TEXT    NOT NULL,
    is_key       {whole} NOT NULL,
    width_ms     {whole} NOT NULL,
    reads        {whole} NOT NULL,
    writes       {whole} NOT NULL,
    bytes        {whole} NOT NULL,
    error        {whole} NOT NULL,
    bands        TEXT    NOT NULL,
    PRIMARY KEY (map_name, window_start, process, shard, is_key, item)
);
"""


MIGRATIONS = Component("sharding.load", (Migration.from_ddl(1, "baseline", _ddl),))

_UPSERT = (
    "INSERT INTO sharding_load (map_name, window_start, process, shard, item, is_key, width_ms, reads, writes, bytes, "
    "error, bands) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (map_name, window_start, process, shard, is_key, item) DO UPDATE SET reads = excluded.reads, "
    "writes = excluded.writes, bytes = excluded.bytes, error = excluded.error, bands = excluded.bands"
)


def process_id() -> str:
    """Return a name for this process's rows: host, pid and a random suffix (a restarted pid is another process)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def flush(db: Database, meter: LoadMeter, process: str, *, keys: int = FLUSH_KEYS) -> int:
    """Write the meter's buckets counted into since the last flush in one transaction; return the rows written."""
    views = meter.take_dirty(keys)
    if not views:
        return 0
    rows = [row for view in views for row in _rows(meter.map_name, process, view)]
    oldest = int((meter.clock() - RETAIN) * 1000)
    try:
        db.ensure(MIGRATIONS)
        with db.transaction() as tx:
            tx.executemany(_UPSERT, rows)
            tx.execute("DELETE FROM sharding_load WHERE map_name = ? AND window_start < ?", (meter.map_name, oldest))
    except BaseException:
        meter.mark_dirty([v.index for v in views])  # the next flush writes them
        raise
    return len(rows)


def _rows(map_name: str, process: str, view: BucketView) -> list[tuple[object, ...]]:
    start = round(view.start * 1000)
    width = round(view.width * 1000)
    bands: dict[str, dict[str, int]] = {}
    for (shard, band), ops in view.bands.items():
        bands.setdefault(shard, {})[str(band)] = ops
    rows: list[tuple[object, ...]] = [
        (map_name, start, process, shard, "", 0, width, r, w, b, 0, json.dumps(bands.get(shard, {})))
        for shard, (r, w, b) in view.shards.items()
    ]
    rows.extend(
        (map_name, start, process, shard, key, 1, width, r, w, b, e, "") for shard, key, r, w, b, e in view.key_rows()
    )
    return rows


class LoadFlusher:
    """The worker job writing a runtime's meter (``runtime.meter``) to the home store at most once per `every` s."""

    def __init__(self, runtime: Runtime, *, every: float = FLUSH_EVERY) -> None:
        self.runtime = runtime
        self.every = every
        self.process = process_id()
        self._last: float | None = None

    def __call__(self) -> int:
        """Flush when due; return the rows written."""
        if self._last is not None and time.monotonic() - self._last < self.every:
            return 0
        self._last = time.monotonic()
        return self.flush()

    def flush(self) -> int:
        """Flush now (also what closing the runtime does); return the rows written."""
        meter = self.runtime.meter  # the one the request paths count into now
        return 0 if meter is None else flush(self.runtime.platform.db, meter, self.process)

    def close(self) -> None:
        """Flush what is left as the runtime closes."""
        self.flush()


def meter_runtime(runtime: Runtime) -> LoadFlusher:
    """Flush `runtime`'s meter from its worker rounds and when it closes; return the flusher."""
    flusher = LoadFlusher(runtime)
    runtime.add_job(LOAD_JOB, flusher)
    runtime.on_close(flusher.close)
    return flusher


@dataclass(frozen=True, slots=True)
class ShardLoad:
    """One shard's load over the window, summed over every process."""

    shard: str
    reads: int
    writes: int
    bytes: int
    seconds: float
    #: Operations per slot band (:data:`~datastrata.sharding.load.BAND_SLOTS` slots each), by band number.
    bands: dict[int, int] = field(default_factory=dict)

    @property
    def qps(self) -> float:
        """Operations (reads and writes) per second."""
        return (self.reads + self.writes) / self.seconds

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-friendly dict."""
        return {
            "shard": self.shard,
            "reads": self.reads,
            "writes": self.writes,
            "bytes": self.bytes,
            "qps": round(self.qps, 3),
            "reads_per_s": round(self.reads / self.seconds, 3),
            "writes_per_s": round(self.writes / self.seconds, 3),
            "bytes_per_s": round(self.bytes / self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class KeyLoad:
    """One key's load over the window (an estimate from each bucket's heavy hitters: at most `error` too high)."""

    shard: str
    key: str
    reads: int
    writes: int
    bytes: int
    error: int
    seconds: float

    @property
    def slot(self) -> int:
        """The key's slot."""
        return slot_of(self.key)

    @property
    def qps(self) -> float:
        """Operations per second, the summary's error included (never an under-count)."""
        return (self.reads + self.writes + self.error) / self.seconds

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-friendly dict."""
        return {
            "shard": self.shard,
            "key": self.key,
            "slot": self.slot,
            "reads": self.reads,
            "writes": self.writes,
            "bytes": self.bytes,
            "error": self.error,
            "qps": round(self.qps, 3),
        }


@dataclass(frozen=True, slots=True)
class LoadReport:
    """A map's load over the last `window` seconds, summed over every process that flushed."""

    map_name: str
    window: float
    seconds: float
    processes: int
    shards: dict[str, ShardLoad]
    #: Heaviest first.
    keys: list[KeyLoad]

    def to_dict(self, *, keys: int = 20) -> dict[str, object]:
        """Return a JSON-friendly dict (the `keys` heaviest keys)."""
        return {
            "map": self.map_name,
            "window_seconds": self.window,
            "processes": self.processes,
            "shards": [self.shards[name].to_dict() for name in sorted(self.shards)],
            "keys": [k.to_dict() for k in self.keys[:keys]],
        }


def read_load(
    db: Database,
    map_name: str,
    *,
    window: float = 10.0,
    width: float = WIDTH,
    clock: Callable[[], float] = time.time,
) -> LoadReport:
    """Sum map `map_name`'s flushed buckets of the last `window` seconds over every process."""
    name = check_shard(map_name, field="map")
    window = bounded_float(window, field="window", minimum=width, maximum=MAX_WINDOW)
    now = clock()
    first = (int(now // width) - max(1, round(window / width)) + 1) * width
    seconds = max(now - first, width / 10)
    db.ensure(MIGRATIONS)
    with db.read() as tx:
        rows = tx.query(
            "SELECT process, shard, item, is_key, reads, writes, bytes, error, bands FROM sharding_load "
            "WHERE map_name = ? AND window_start >= ?",
            (name, round(first * 1000)),
        )
    totals: dict[str, list[int]] = {}
    bands: dict[str, dict[int, int]] = {}
    keys: dict[tuple[str, str], list[int]] = {}
    processes: set[str] = set()
    for process, shard, item, is_key, reads, writes, nbytes, error, band_text in rows:
        processes.add(str(process))
        target = (
            keys.setdefault((str(shard), str(item)), [0, 0, 0, 0])
            if is_key
            else totals.setdefault(str(shard), [0, 0, 0, 0])
        )
        target[0] += int(reads)
        target[1] += int(writes)
        target[2] += int(nbytes)
        target[3] += int(error)
        if not is_key and band_text:
            into = bands.setdefault(str(shard), {})
            for band, ops in json.loads(str(band_text)).items():
                into[int(band)] = into.get(int(band), 0) + int(ops)
    shards = {s: ShardLoad(s, t[0], t[1], t[2], seconds, bands.get(s, {})) for s, t in totals.items()}
    ranked = sorted(
        (KeyLoad(s, k, v[0], v[1], v[2], v[3], seconds) for (s, k), v in keys.items()),
        key=lambda k: (-k.qps, k.shard, k.key),
    )
    return LoadReport(name, window, seconds, len(processes), shards, ranked)


def band_slots(band: int) -> tuple[int, int]:
    """Return the first and last slot of `band`."""
    return band * BAND_SLOTS, band * BAND_SLOTS + BAND_SLOTS - 1
