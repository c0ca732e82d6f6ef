"""The event log: atomic, optimistic, idempotent appends and ordered reads on SQLite or PostgreSQL."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from datastrata.core import codec
from datastrata.core.clock import Clock, ensure_utc, system_clock
from datastrata.core.errors import ConcurrencyConflict, ValidationError
from datastrata.core.events import Event, NewEvent
from datastrata.core.tenancy import current_tenant
from datastrata.eventlog.schema import ddl
from datastrata.eventlog.upcasting import Upcasters
from datastrata.stores.database import Database, Row, Tx, time_from_db, time_to_db

#: ``expected_version=ANY`` appends without a version check.
ANY: Final = None
#: Advisory-lock key that orders appends on PostgreSQL so positions become visible in order.
APPEND_LOCK_KEY: Final = 0x64617461  # "data"

_STREAM_ID = re.compile(r"^[^\x00-\x1f]{1,200}$")
_COLUMNS = (
    "position, tenant_id, stream_id, version, event_id, event_type, schema_version, "
    "payload, metadata, occurred_at, recorded_at"
)


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append stored: the stream's new version and the recorded events."""

    stream_id: str
    version: int
    events: tuple[Event, ...]
    duplicate: bool = False

    @property
    def position(self) -> int:
        """Global position of the last event of this append (a consistency token)."""
        return self.events[-1].position if self.events else 0


@dataclass(frozen=True, slots=True)
class Page:
    """A page of the global log and the position to read after next time."""

    events: list[Event]
    next_after: int


class EventLog:
    """Append-only event log with per-stream versions and one global order."""

    def __init__(self, db: Database, *, clock: Clock = system_clock, upcasters: Upcasters | None = None) -> None:
        self.db = db
        self.clock = clock
        self.upcasters = upcasters or Upcasters()
        db.ensure_schema("eventlog", ddl)

    # ---- writing -------------------------------------------------------------------------------------------

    def append(self, stream_id: str, events: Sequence[NewEvent], *, expected_version: int | None = ANY) -> AppendResult:
        """Append `events` to `stream_id` in their own transaction."""
        with self.db.transaction() as tx:
            return self.append_in(tx, stream_id, events, expected_version=expected_version)

    def append_in(
        self, tx: Tx, stream_id: str, events: Sequence[NewEvent], *, expected_version: int | None = ANY
    ) -> AppendResult:
        """Append `events` to `stream_id` inside the caller's transaction `tx`.

        Raises ConcurrencyConflict when the stream is not at `expected_version`. Appending events whose ids
        are all already stored in this stream is a no-op that returns the stored events (``duplicate=True``).
        """
        _check_append(stream_id, events, expected_version)
        ids = [e.event_id for e in events]
        current, duplicates = self._probe(tx, stream_id, ids)
        if duplicates:
            return self._duplicate_result(tx, stream_id, ids, current)
        if expected_version is not None and expected_version != current:
            raise ConcurrencyConflict(
                f"stream {stream_id!r} is at version {current}, not the expected {expected_version}; "
                "reload it and retry the command",
                stream_id=stream_id,
                expected=expected_version,
                actual=current,
            )
        recorded_at = self.clock()
        rows = [
            (
                current_tenant(),
                stream_id,
                current + i + 1,
                e.event_id,
                e.type,
                e.schema_version,
                codec.encode(e.payload),
                codec.encode(e.metadata),
                time_to_db(
                    tx.dialect,
                    ensure_utc(e.occurred_at, field="occurred_at") if e.occurred_at else recorded_at,
                ),
                time_to_db(tx.dialect, recorded_at),
            )
            for i, e in enumerate(events)
        ]
        try:
            positions = self._insert(tx, rows)
        except (sqlite3.IntegrityError, Exception) as exc:
            if _is_unique_violation(exc):
                raise ConcurrencyConflict(
                    f"stream {stream_id!r} was appended to concurrently at version {current}; "
                    "reload it and retry the command",
                    stream_id=stream_id,
                    expected=current,
                    actual=-1,
                ) from None
            raise
        tx.on_commit(self.db.notify_changed)
        stored = tuple(
            Event(
                stream_id=stream_id,
                version=current + i + 1,
                position=positions[i],
                event_id=e.event_id,
                type=e.type,
                payload=e.payload,
                metadata=e.metadata,
                occurred_at=e.occurred_at or recorded_at,
                recorded_at=recorded_at,
                schema_version=e.schema_version,
                tenant_id=rows[i][0],
            )
            for i, e in enumerate(events)
        )
        return AppendResult(stream_id=stream_id, version=current + len(events), events=stored)

    def _probe(self, tx: Tx, stream_id: str, ids: list[str]) -> tuple[int, int]:
        """Return the stream's current version and how many of `ids` are already stored."""
        if tx.dialect == "postgresql":
            row = tx.one(
                "SELECT pg_advisory_xact_lock(?), "
                "(SELECT max(version) FROM eventlog_events WHERE stream_id = ?), "
                "(SELECT count(*) FROM eventlog_events WHERE event_id = ANY(?))",
                (APPEND_LOCK_KEY, stream_id, ids),
            )
            assert row is not None
            return int(row[1] or 0), int(row[2])
        marks = ",".join("?" * len(ids))
        row = tx.one(
            "SELECT (SELECT max(version) FROM eventlog_events WHERE stream_id = ?), "
            f"(SELECT count(*) FROM eventlog_events WHERE event_id IN ({marks}))",
            (stream_id, *ids),
        )
        assert row is not None
        return int(row[0] or 0), int(row[1])

    def _insert(self, tx: Tx, rows: list[tuple[Any, ...]]) -> list[int]:
        """Insert event rows and return their global positions, in order."""
        if tx.dialect == "postgresql":
            columns = list(zip(*rows, strict=True))
            found = tx.query(
                "INSERT INTO eventlog_events (tenant_id, stream_id, version, event_id, event_type, schema_version, "
                "payload, metadata, occurred_at, recorded_at) "
                "SELECT t, s, v, i, ty, sv, p::jsonb, m::jsonb, o, r FROM unnest("
                "?::text[], ?::text[], ?::int[], ?::text[], ?::text[], ?::int[], ?::text[], ?::text[], "
                "?::timestamptz[], ?::timestamptz[]) WITH ORDINALITY AS x(t, s, v, i, ty, sv, p, m, o, r, n) "
                "ORDER BY n RETURNING position",
                [list(c) for c in columns],
            )
            return sorted(int(r[0]) for r in found)
        tx.executemany(
            "INSERT INTO eventlog_events (tenant_id, stream_id, version, event_id, event_type, schema_version, "
            "payload, metadata, occurred_at, recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        last = int(tx.scalar("SELECT last_insert_rowid()"))
        return list(range(last - len(rows) + 1, last + 1))

    def _duplicate_result(self, tx: Tx, stream_id: str, ids: list[str], current: int) -> AppendResult:
        """Report a retried append whose events are all stored already; refuse a partial or foreign match."""
        marks = ",".join("?" * len(ids))
        stored = [
            self._event(r)
            for r in tx.query(
                f"SELECT {_COLUMNS} FROM eventlog_events WHERE event_id IN ({marks}) ORDER BY position", ids
            )
        ]
        foreign = [e for e in stored if e.stream_id != stream_id]
        if foreign:
            raise ValidationError(
                f"event id {foreign[0].event_id!r} is already stored in stream {foreign[0].stream_id!r}; "
                "use a new event id",
                field="event_id",
            )
        if len(stored) != len(ids):
            missing = sorted(set(ids) - {e.event_id for e in stored})
            raise ValidationError(
                f"events {missing} are new but the rest of the batch was stored already; "
                "retry with exactly the original batch or with new event ids",
                field="event_id",
            )
        return AppendResult(stream_id=stream_id, version=current, events=tuple(stored), duplicate=True)

    # ---- reading -------------------------------------------------------------------------------------------

    def read(
        self,
        stream_id: str,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Read one stream in version order, optionally bounded by version or by business time (inclusive)."""
        with self.db.read() as tx:
            return self.read_in(
                tx, stream_id, from_version=from_version, to_version=to_version, until=until, limit=limit
            )

    def read_in(
        self,
        tx: Tx,
        stream_id: str,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Read one stream inside an open transaction (see :meth:`read`)."""
        sql = f"SELECT {_COLUMNS} FROM eventlog_events WHERE stream_id = ? AND version >= ?"
        params: list[Any] = [stream_id, from_version]
        if to_version is not None:
            sql += " AND version <= ?"
            params.append(to_version)
        if until is not None:
            sql += " AND occurred_at <= ?"
            params.append(time_to_db(tx.dialect, ensure_utc(until, field="until")))
        sql += " ORDER BY version"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [self._event(r) for r in tx.query(sql, params)]

    def read_all(self, *, after: int = 0, limit: int = 1000, types: Collection[str] | None = None) -> list[Event]:
        """Read the global log after position `after`, in order, at most `limit` events."""
        return self.read_page(after=after, limit=limit, types=types).events

    def read_page(self, *, after: int = 0, limit: int = 1000, types: Collection[str] | None = None) -> Page:
        """Read a page of the global log and say where the next page starts.

        With a `types` filter the page may hold fewer than `limit` events although the log goes on; `next_after`
        then moves past every position this snapshot has seen, so a follower never rescans skipped events.
        """
        with self.db.read() as tx:
            sql = f"SELECT {_COLUMNS} FROM eventlog_events WHERE position > ?"
            params: list[Any] = [after]
            if types is not None:
                sql += f" AND event_type IN ({','.join('?' * len(types))})"
                params.extend(types)
            sql += " ORDER BY position LIMIT ?"
            params.append(limit)
            events = [self._event(r) for r in tx.query(sql, params)]
            if len(events) == limit:
                return Page(events, events[-1].position)
            head = int(tx.scalar("SELECT coalesce(max(position), 0) FROM eventlog_events") or 0)
            return Page(events, max(head, after))

    def head(self) -> int:
        """Return the highest committed global position (0 for an empty log)."""
        with self.db.read() as tx:
            return int(tx.scalar("SELECT coalesce(max(position), 0) FROM eventlog_events") or 0)

    def version(self, stream_id: str) -> int:
        """Return the current version of `stream_id` (0 when it has no events)."""
        with self.db.read() as tx:
            return int(
                tx.scalar("SELECT coalesce(max(version), 0) FROM eventlog_events WHERE stream_id = ?", (stream_id,))
                or 0
            )

    def _event(self, row: Row) -> Event:
        """Build an Event from a stored row, upcasting old payloads."""
        payload = codec.decode(row[7])
        schema_version = int(row[6])
        if self.upcasters:
            schema_version, payload = self.upcasters.upcast(row[5], schema_version, payload)
        return Event(
            position=int(row[0]),
            tenant_id=row[1],
            stream_id=row[2],
            version=int(row[3]),
            event_id=row[4],
            type=row[5],
            schema_version=schema_version,
            payload=payload,
            metadata=codec.decode(row[8]),
            occurred_at=time_from_db(row[9]),
            recorded_at=time_from_db(row[10]),
        )


def _check_append(stream_id: str, events: Sequence[NewEvent], expected_version: int | None) -> None:
    """Refuse malformed appends before touching the store."""
    if not isinstance(stream_id, str) or not _STREAM_ID.match(stream_id):
        raise ValidationError(f"stream_id must be 1-200 printable characters; got {stream_id!r}", field="stream_id")
    if not events:
        raise ValidationError("an append needs at least one event", field="events")
    if expected_version is not None and expected_version < 0:
        raise ValidationError(
            f"expected_version must be >= 0 (0 means a new stream) or ANY; got {expected_version}",
            field="expected_version",
        )
    seen: set[str] = set()
    for e in events:
        if not e.type:
            raise ValidationError("every event needs a type", field="type")
        if e.event_id in seen:
            raise ValidationError(f"event id {e.event_id!r} appears twice in one append", field="event_id")
        seen.add(e.event_id)


def _is_unique_violation(exc: BaseException) -> bool:
    """True for a unique-constraint violation on either engine."""
    if isinstance(exc, sqlite3.IntegrityError):
        return "UNIQUE" in str(exc)
    return getattr(exc, "sqlstate", None) == "23505"
