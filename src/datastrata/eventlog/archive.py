"""Archived streams: closed streams whose events left the online log for one Parquet segment in object storage.

Tiering (:mod:`datastrata.tiering.segments`) writes the segment, then records it here and deletes the stream's
online events in one transaction. The log keeps answering for the stream through its own interface: ``read``,
``version`` and ``get`` read the segment back (:class:`~datastrata.eventlog.log.EventLog`), an append to it is
refused (a closed stream takes no more events), and followers are told which positions they skip.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from datastrata.core.clock import Clock, system_clock
from datastrata.stores.database import Dialect, Row, Tx, time_from_db, time_to_db

if TYPE_CHECKING:
    import pyarrow as pa

#: The segment's columns, in the log's order: every field of a stored event (see :func:`schema`).
NAMES = (
    "position",
    "tenant_id",
    "stream_id",
    "version",
    "event_id",
    "event_type",
    "schema_version",
    "payload",
    "metadata",
    "occurred_at",
    "recorded_at",
)
_TIMES = (9, 10)
_COLUMNS = (
    "stream_id, tenant_id, version, first_position, last_position, events, event_types, last_type, newest, tier, "
    "location, checksum, archived_at"
)


class Blobs(Protocol):
    """Where segments are read from (a :class:`~datastrata.tiering.objects.ObjectStore`)."""

    def read(self, key: str) -> bytes:
        """Return the object's bytes (refused for an archive class until restored)."""


@dataclass(frozen=True, slots=True)
class Segment:
    """One archived stream: its last version, the positions it spanned, where its events are and in which tier."""

    stream_id: str
    tenant_id: str
    version: int
    first_position: int
    last_position: int
    events: int
    event_types: tuple[str, ...]
    #: The type of its last event and when the log recorded it (tiering ages and stages the stream by them).
    last_type: str
    newest: datetime
    tier: str
    location: str
    checksum: str
    archived_at: datetime

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-friendly dict."""
        return {
            "stream_id": self.stream_id,
            "version": self.version,
            "first_position": self.first_position,
            "last_position": self.last_position,
            "events": self.events,
            "event_types": list(self.event_types),
            "last_type": self.last_type,
            "newest": self.newest.isoformat(),
            "tier": self.tier,
            "location": self.location,
            "archived_at": self.archived_at.isoformat(),
        }


class LazyObjects:
    """An object store opened on first read (the log's reader of segments; opening it costs nothing until then)."""

    def __init__(self, url: str, *, clock: Clock = system_clock) -> None:
        self.url = url
        self.clock = clock
        self._store: Blobs | None = None

    def read(self, key: str) -> bytes:
        """Return the object's bytes."""
        if self._store is None:
            from datastrata.tiering.objects import ObjectStore

            self._store = ObjectStore(self.url, clock=self.clock)
        return self._store.read(key)


def schema() -> pa.Schema:
    """The segment's Arrow schema: times as UTC microseconds, payload and metadata as JSON text."""
    import pyarrow as pa

    types = [pa.int64(), pa.string(), pa.string(), pa.int64(), pa.string(), pa.string(), pa.int32()]
    types += [pa.string(), pa.string(), pa.timestamp("us", tz="UTC"), pa.timestamp("us", tz="UTC")]
    return pa.schema(list(zip(NAMES, types, strict=True)))


def to_table(rows: Sequence[Row]) -> pa.Table:
    """The stored rows of one stream (the log's column order, JSON as text) as a segment table."""
    import pyarrow as pa

    columns: list[list[Any]] = [[] for _ in NAMES]
    for row in rows:
        for i, value in enumerate(row):
            columns[i].append(time_from_db(value) if i in _TIMES else value)
    return pa.table(columns, schema=schema())


def to_parquet(table: pa.Table) -> bytes:
    """A segment as Parquet bytes, zstd-compressed."""
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def from_parquet(data: bytes) -> pa.Table:
    """Read a segment's Parquet bytes back into Arrow (one file: no dataset discovery, which costs ms per read)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.ParquetFile(pa.BufferReader(data)).read()


def rows_of(data: bytes, dialect: Dialect) -> list[Row]:
    """Read a segment back into stored rows of `dialect` (times as the store returns them), in version order."""
    table = from_parquet(data).sort_by("version")
    as_db: Callable[[datetime], Any] = lambda t: time_to_db(dialect, t)  # noqa: E731
    columns = [table.column(name).to_pylist() for name in NAMES]
    for i in _TIMES:
        columns[i] = [as_db(t) for t in columns[i]]
    return [tuple(values) for values in zip(*columns, strict=True)]


def segment_in(tx: Tx, tenant: str, stream_id: str) -> Segment | None:
    """The archive record of the tenant's `stream_id`, or None when the stream is not archived."""
    row = tx.one(
        f"SELECT {_COLUMNS} FROM eventlog_archived_streams WHERE tenant_id = ? AND stream_id = ?", (tenant, stream_id)
    )
    return None if row is None else _segment(row)


def segments_in(tx: Tx, *, after: int = 0, tenant: str | None = None) -> list[Segment]:
    """Every archived stream (of `tenant`, when given) whose last position lies past `after`, in position order."""
    mine, params = ("tenant_id = ? AND ", (tenant, after)) if tenant is not None else ("", (after,))
    found = tx.query(
        f"SELECT {_COLUMNS} FROM eventlog_archived_streams WHERE {mine}last_position > ? ORDER BY last_position",
        params,
    )
    return [_segment(r) for r in found]


def summary_in(tx: Tx) -> tuple[int, int, int]:
    """How many streams are archived, their events, and the highest position among them (0: none)."""
    row = tx.one(
        "SELECT count(*), coalesce(sum(events), 0), coalesce(max(last_position), 0) FROM eventlog_archived_streams"
    )
    return (0, 0, 0) if row is None else (int(row[0]), int(row[1]), int(row[2]))


def stream_of_event_in(tx: Tx, tenant: str, event_id: str) -> str | None:
    """The tenant's archived stream holding `event_id`, or None."""
    found = tx.scalar(
        "SELECT stream_id FROM eventlog_archived_events WHERE tenant_id = ? AND event_id = ?", (tenant, event_id)
    )
    return None if found is None else str(found)


def record_in(tx: Tx, segment: Segment, rows: Sequence[Row]) -> int:
    """Record `segment` and the ids of its events, then delete the stream's online events; return how many went."""
    tx.execute(
        f"INSERT INTO eventlog_archived_streams ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            segment.stream_id,
            segment.tenant_id,
            segment.version,
            segment.first_position,
            segment.last_position,
            segment.events,
            ",".join(segment.event_types),
            segment.last_type,
            time_to_db(tx.dialect, segment.newest),
            segment.tier,
            segment.location,
            segment.checksum,
            time_to_db(tx.dialect, segment.archived_at),
        ),
    )
    tx.executemany(
        "INSERT INTO eventlog_archived_events (tenant_id, event_id, stream_id, position) VALUES (?, ?, ?, ?)",
        [(segment.tenant_id, r[4], segment.stream_id, r[0]) for r in rows],
    )
    if tx.dialect == "postgresql":
        found = tx.scalar("SELECT eventlog_delete_archived(?, ?)", (segment.tenant_id, segment.stream_id))
        return int(found or 0)
    cursor = tx.execute(
        "DELETE FROM eventlog_events WHERE tenant_id = ? AND stream_id = ? AND version <= ?",
        (segment.tenant_id, segment.stream_id, segment.version),
    )
    return int(cursor.rowcount)


def set_tier_in(tx: Tx, tenant: str, stream_id: str, tier: str) -> None:
    """Record that the segment of the tenant's `stream_id` moved to `tier` (frozen, or expired: its events are gone)."""
    tx.execute(
        "UPDATE eventlog_archived_streams SET tier = ? WHERE tenant_id = ? AND stream_id = ?", (tier, tenant, stream_id)
    )


def _segment(row: Row) -> Segment:
    return Segment(
        str(row[0]),
        str(row[1]),
        int(row[2]),
        int(row[3]),
        int(row[4]),
        int(row[5]),
        tuple(t for t in str(row[6]).split(",") if t),
        str(row[7]),
        time_from_db(row[8]),
        str(row[9]),
        str(row[10]),
        str(row[11]),
        time_from_db(row[12]),
    )
