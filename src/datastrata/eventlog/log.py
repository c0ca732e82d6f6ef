"""The event log: atomic, optimistic, idempotent appends and ordered reads on SQLite or PostgreSQL."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Protocol

import msgspec

from datastrata.core import codec
from datastrata.core.clock import Clock, ensure_utc, refuse_future, system_clock
from datastrata.core.errors import ConcurrencyConflict, ConfigurationError, NotFound, RuleViolation, ValidationError
from datastrata.core.events import Event, NewEvent
from datastrata.core.tenancy import check_tenant_id, current_tenant
from datastrata.eventlog import archive
from datastrata.eventlog.engine import Engine, ImportRow, NewRow
from datastrata.eventlog.postgres_engine import PostgresEngine
from datastrata.eventlog.schema import MIGRATIONS
from datastrata.eventlog.sqlite_engine import SqliteEngine
from datastrata.eventlog.upcasting import Upcasters
from datastrata.stores.database import Database, Row, Tx, is_unique_violation, time_from_db, time_to_db

#: ``expected_version=ANY`` appends without a version check.
ANY: Final = None

_STREAM_ID = re.compile(r"^[^\x00-\x1f]{1,200}$")
_loads = codec.loads


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
        self.engine: Engine = SqliteEngine() if db.dialect == "sqlite" else PostgresEngine()
        # SQLite stores times as UTC ISO text; psycopg already returns aware UTC datetimes (UTC sessions).
        self._time: Callable[[Any], datetime] = datetime.fromisoformat if db.dialect == "sqlite" else _same
        db.ensure(MIGRATIONS)
        self._identity: str | None = None
        #: Where the segments of archived (closed) streams are read from; None: archived streams cannot be read.
        self.objects: archive.Blobs | None = None
        #: Seals personal fields on append and opens them on read (crypto-shredding); None: payloads stored as given.
        self.sealer: PayloadSealer | None = None

    @property
    def identity(self) -> str:
        """This log's identity: created with its schema, it names the log derived stores and tokens follow."""
        if self._identity is None:
            with self.db.session() as tx:
                self._identity = self.engine.identity(tx)
        return self._identity

    def renew_identity(self, *, backup_taken_at: datetime) -> tuple[str, str]:
        """Give this log a new identity after a restore, recording the old one; return ``(old, new)``.

        Positions past the backup are handed out again by the restored log, so what was derived from (or a token
        issued by) the log before the restore must not pass for this one: the new identity refuses them.
        """
        new = uuid.uuid4().hex
        with self.db.transaction() as tx:
            old = self.engine.renew_identity(tx, new, self.clock(), backup_taken_at)
        self._identity = new
        return old, new

    def lineage(self) -> list[dict[str, Any]]:
        """Return each restore this log went through: its identity then, the one restored from, when, which backup."""
        with self.db.read() as tx:
            rows = self.engine.lineage(tx)
        return [
            {
                "log": str(log_id),
                "restored_from": str(old),
                "restored_at": time_from_db(at).isoformat(),
                "backup_taken_at": time_from_db(taken).isoformat(),
            }
            for log_id, old, at, taken in rows
        ]

    # ---- writing -------------------------------------------------------------------------------------------

    def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        *,
        expected_version: int | None = ANY,
        tenant: str | None = None,
    ) -> AppendResult:
        """Append `events` to the tenant's `stream_id` as one transaction (one round trip on PostgreSQL).

        `tenant` defaults to the context's (:func:`~datastrata.core.tenancy.current_tenant`): streams, versions
        and event ids are per tenant, so two tenants may use the same stream and event ids.
        """
        owner = _tenant(tenant)
        if self.db.dialect == "postgresql":
            with self.db.session() as single_statement:
                result = self._append(single_statement, owner, stream_id, events, expected_version)
            if not result.duplicate:
                self.db.notify_changed()
            return result
        with self.db.transaction() as tx:
            result = self._append(tx, owner, stream_id, events, expected_version)
            if not result.duplicate:
                tx.on_commit(self.db.notify_changed)
            return result

    def append_in(
        self,
        tx: Tx,
        stream_id: str,
        events: Sequence[NewEvent],
        *,
        expected_version: int | None = ANY,
        tenant: str | None = None,
    ) -> AppendResult:
        """Append `events` to the tenant's `stream_id` inside the caller's transaction `tx`.

        Raises ConcurrencyConflict when the stream is not at `expected_version`. Appending events whose ids
        are all already stored in this stream is a no-op that returns the stored events (``duplicate=True``).
        """
        result = self._append(tx, _tenant(tenant), stream_id, events, expected_version)
        if not result.duplicate:
            tx.on_commit(self.db.notify_changed)
        return result

    def _append(
        self, tx: Tx, tenant: str, stream_id: str, events: Sequence[NewEvent], expected: int | None
    ) -> AppendResult:
        _check_append(stream_id, events, expected)
        recorded_at = self.clock()
        dialect = tx.dialect
        recorded = time_to_db(dialect, recorded_at)
        for e in events:
            if e.occurred_at is not None:
                refuse_future(ensure_utc(e.occurred_at, field="at"), recorded_at)
        sealer = self.sealer
        stored_as = events if sealer is None else [_sealed(sealer, tx, tenant, e) for e in events]
        rows: list[NewRow] = [
            (
                tenant,
                e.event_id,
                e.type,
                e.schema_version,
                codec.encode(e.payload) if e.payload else "{}",
                codec.encode(e.metadata) if e.metadata else "{}",
                time_to_db(dialect, ensure_utc(e.occurred_at, field="occurred_at")) if e.occurred_at else recorded,
                recorded,
            )
            for e in stored_as
        ]  # the result below carries the payloads as given: the caller reads what it appended
        try:
            outcome = self.engine.append(tx, tenant, stream_id, rows, expected)
        except Exception as exc:
            if is_unique_violation(exc):
                raise ConcurrencyConflict(
                    f"stream {stream_id!r} was appended to concurrently; reload it and retry the command",
                    stream_id=stream_id,
                    expected=-1 if expected is None else expected,
                    actual=-1,
                ) from None
            raise
        if outcome.closed:
            raise _closed(stream_id, archive.segment_in(tx, tenant, stream_id))
        if outcome.duplicates:
            return self._duplicate_result(tx, tenant, stream_id, [e.event_id for e in events], outcome.current)
        if outcome.newer_writer:
            raise ConcurrencyConflict(
                f"stream {stream_id!r} was appended to by a transaction that started after this one; "
                "retry the command in a new transaction",
                stream_id=stream_id,
                expected=-1 if expected is None else expected,
                actual=outcome.current,
            )
        if not outcome.positions:
            raise ConcurrencyConflict(
                f"stream {stream_id!r} is at version {outcome.current}, not the expected {expected}; "
                "reload it and retry the command",
                stream_id=stream_id,
                expected=-1 if expected is None else expected,
                actual=outcome.current,
            )
        stored = tuple(
            Event(
                stream_id=stream_id,
                version=outcome.current + i + 1,
                position=outcome.positions[i],
                event_id=e.event_id,
                type=e.type,
                payload=e.payload,
                metadata=e.metadata,
                occurred_at=e.occurred_at or recorded_at,
                recorded_at=recorded_at,
                schema_version=e.schema_version,
                tenant_id=tenant,
            )
            for i, e in enumerate(events)
        )
        return AppendResult(stream_id=stream_id, version=outcome.current + len(events), events=stored)

    def _duplicate_result(self, tx: Tx, tenant: str, stream_id: str, ids: list[str], current: int) -> AppendResult:
        """Report a retried append whose events are all stored already; refuse a partial or foreign match.

        Only the tenant's own events are looked at: another tenant's use of an id neither collides nor is named.
        """
        stored = self._events(self.engine.by_ids(tx, tenant, ids))
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
        tenant: str | None = None,
    ) -> list[Event]:
        """Read the tenant's stream in version order, optionally bounded by version or business time (inclusive)."""
        with self.db.session() as tx:
            return self.read_in(
                tx,
                stream_id,
                from_version=from_version,
                to_version=to_version,
                until=until,
                limit=limit,
                tenant=tenant,
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
        tenant: str | None = None,
    ) -> list[Event]:
        """Read the tenant's stream inside an open transaction (see :meth:`read`)."""
        owner = _tenant(tenant)
        bound = ensure_utc(until, field="until") if until is not None else None
        rows = self.engine.stream(tx, owner, stream_id, from_version, to_version, bound, limit)
        if not rows and (segment := archive.segment_in(tx, owner, stream_id)) is not None:
            rows = self._archived_rows(segment, from_version, to_version, bound, limit)
        return self._events(rows)

    def get(self, event_id: str, *, tenant: str | None = None) -> Event:
        """Return the tenant's stored event `event_id` (NotFound when this log holds no such event of it)."""
        owner = _tenant(tenant)
        with self.db.session() as tx:
            found = self._events(self.engine.by_ids(tx, owner, [event_id]))
            if not found and (stream_id := archive.stream_of_event_in(tx, owner, event_id)) is not None:
                found = [e for e in self.read_in(tx, stream_id, tenant=owner) if e.event_id == event_id]
        if not found:
            raise NotFound(f"event {event_id!r} is not in this log; check the id (and --store)", field="event_id")
        return found[0]

    def read_all(self, *, after: int = 0, limit: int = 1000, types: Collection[str] | None = None) -> list[Event]:
        """Read the global log after position `after`, in order, at most `limit` events."""
        return self.read_page(after=after, limit=limit, types=types).events

    def read_page(self, *, after: int = 0, limit: int = 1000, types: Collection[str] | None = None) -> Page:
        """Read a page of the global log and say where the next page starts.

        A follower that always reads after the previous page's `next_after` sees every event exactly once, in
        order, even while writers commit concurrently. With a `types` filter `next_after` moves past the events
        of other types this snapshot has seen, so they are not scanned again.
        """
        with self.db.session() as tx:
            rows, next_after = self.engine.page(tx, after, limit, types)
        return Page(self._events(rows), next_after)

    def head(self) -> int:
        """Return the highest position a follower can read now (0 for an empty log), over every tenant's events."""
        from datastrata.core.tenancy import platform

        with platform(), self.db.session() as tx:
            return self.engine.head(tx)

    def head_in(self, tx: Tx) -> int:
        """Return the head as seen inside an open transaction (no second connection is borrowed).

        The head is a position of the whole log, not a tenant's data: read as the platform, past SQLite's tenant
        guard. On PostgreSQL a tenant's transaction reads its own last position (row-level security shows it no
        other), which serves as well as a token, from the tenant's index.
        """
        from datastrata.core.tenancy import bound, platform

        context = bound()
        if tx.dialect == "postgresql" and context.tenant is not None and not context.platform:
            return self.engine.tenant_head(tx, context.tenant)
        with platform():
            return self.engine.head(tx)

    def count(self, *, after: int = 0, upto: int | None = None) -> int:
        """Count the events with `after` < position <= `upto` (default: the head)."""
        with self.db.session() as tx:
            return self.engine.count(tx, after, self.engine.head(tx) if upto is None else upto)

    def version(self, stream_id: str, *, tenant: str | None = None) -> int:
        """Return the current version of the tenant's `stream_id` (0 when it has no events)."""
        with self.db.session() as tx:
            return self.version_in(tx, stream_id, tenant=tenant)

    def version_in(self, tx: Tx, stream_id: str, *, tenant: str | None = None) -> int:
        """Return the current version of the tenant's `stream_id` as `tx` sees it (an archived stream's last one)."""
        owner = _tenant(tenant)
        version = self.engine.version(tx, owner, stream_id)
        if version == 0 and (segment := archive.segment_in(tx, owner, stream_id)) is not None:
            return segment.version
        return version

    # ---- one tenant's whole log (moves, export, offboarding) -----------------------------------------------------

    def tenant_page(self, tenant: str, after: int = 0, limit: int = 1000) -> Page:
        """Read a page of one tenant's events after position `after`, as stored (sealed, not upcast).

        Gap-safe like :meth:`read_page`: a reader that always continues from `next_after` sees each of the tenant's
        events once. Payloads come as stored, so :meth:`import_in` copies them exactly; archived streams are not in
        the online log (see :meth:`archived`).
        """
        check_tenant_id(tenant)
        with self.db.session() as tx:
            rows, next_after = self.engine.tenant_page(tx, tenant, after, limit)
        return Page(self._stored(rows), next_after)

    def stored_page(self, after: int = 0, limit: int = 1000) -> Page:
        """Read a page of every tenant's events after `after`, as stored (a shard move's copy: sealed, not upcast)."""
        from datastrata.core.tenancy import platform

        with platform(), self.db.session() as tx:
            rows, next_after = self.engine.page(tx, after, limit, None)
        return Page(self._stored(rows), next_after)

    def opened(self, events: list[Event]) -> list[Event]:
        """Return stored events (a :meth:`tenant_page`'s) as every reader sees them: sealed fields opened, upcast."""
        if self.sealer is not None:
            events = self.sealer.open(events)
        return [self._upcast(e) for e in events] if self.upcasters else events

    def tenant_count(self, tenant: str) -> int:
        """Return how many events of `tenant` the online log holds (its index on tenant and position)."""
        with self.db.session() as tx:
            found = tx.scalar("SELECT COUNT(*) FROM eventlog_events WHERE tenant_id = ?", (check_tenant_id(tenant),))
        return int(found or 0)

    def import_in(self, tx: Tx, events: Sequence[Event]) -> int:
        """Store events of another log inside `tx` with their ids, streams, versions, types and times; return how many.

        Each event gets this log's next position; an event whose ``(tenant, event id)`` is stored already is skipped,
        so an interrupted import can simply be run again. Payloads are stored as given (no sealing, no upcasting).
        """
        if not events:
            return 0
        dialect = tx.dialect
        rows: list[ImportRow] = [
            (
                check_tenant_id(e.tenant_id),
                e.stream_id,
                e.version,
                e.event_id,
                e.type,
                e.schema_version,
                codec.encode(e.payload) if e.payload else "{}",
                codec.encode(e.metadata) if e.metadata else "{}",
                time_to_db(dialect, ensure_utc(e.occurred_at, field="occurred_at")),
                time_to_db(dialect, ensure_utc(e.recorded_at, field="recorded_at")),
            )
            for e in events
        ]
        try:
            count = self.engine.import_rows(tx, rows)
        except Exception as exc:
            if is_unique_violation(exc):
                raise ValidationError(
                    "an imported event takes a stream version this log already holds under another event id; "
                    "import into a log without the tenant's events (or delete them first with delete_tenant_in)",
                    field="version",
                ) from None
            raise
        if count:
            tx.on_commit(self.db.notify_changed)
        return count

    def delete_tenant_in(self, tx: Tx, tenant: str) -> int:
        """Delete every event, snapshot and archive record of `tenant` inside `tx`; return how many events went.

        The owner's delete for a move's clean-up and for offboarding (on PostgreSQL through a SECURITY DEFINER
        function: the application roles may not delete from the append-only log). Positions are never reused.
        """
        return self.engine.delete_tenant(tx, check_tenant_id(tenant))

    # ---- archived (closed) streams ----------------------------------------------------------------------------

    def archived(
        self, *, after: int = 0, types: Collection[str] | None = None, tenant: str | None = None
    ) -> list[archive.Segment]:
        """The archived streams a reader of the log after `after` skips (of `types` and `tenant`, when given)."""
        with self.db.session() as tx:
            found = archive.segments_in(tx, after=after, tenant=tenant)
        wanted = None if types is None else set(types)
        return [s for s in found if wanted is None or wanted.intersection(s.event_types)]

    def archived_events(self, segment: archive.Segment) -> list[Event]:
        """The events of an archived stream read back from its segment as stored (sealed, not upcast): a move's."""
        return self._stored(self._archived_rows(segment, 1, None, None, None))

    def _archived_rows(
        self, segment: archive.Segment, first: int, last: int | None, until: datetime | None, limit: int | None
    ) -> list[Row]:
        """The stored rows of an archived stream within the bounds, read back from its segment."""
        if segment.tier == "expired":
            raise RuleViolation(
                f"stream {segment.stream_id!r} expired under its tiering policy: its {segment.events} events "
                f"(version {segment.version}, positions {segment.first_position}-{segment.last_position}) are "
                "gone; nothing can be read from it",
                field="stream_id",
            )
        if first > segment.version:
            return []  # nothing after the last version (a load from a snapshot): no segment to read
        if self.objects is None:
            raise ConfigurationError(
                f"stream {segment.stream_id!r} is archived at {segment.location} in object storage, and this log "
                "has no object store to read it from; set DATASTRATA_OBJECTS (or --objects) to the tiering store",
                field="objects",
            )
        try:
            data = self.objects.read(segment.location)
        except RuleViolation as exc:
            raise RuleViolation(
                f"stream {segment.stream_id!r} is frozen: its segment {exc}, e.g. `datastrata tiering restore "
                f"POLICY DATASET {segment.stream_id} --tier expedited`; read the stream again once it is restored",
                field="stream_id",
            ) from None
        rows = archive.rows_of(data, self.db.dialect)
        kept = [
            r
            for r in rows
            if r[3] >= first and (last is None or r[3] <= last) and (until is None or time_from_db(r[9]) <= until)
        ]
        return kept if limit is None else kept[:limit]

    def _events(self, rows: list[Row]) -> list[Event]:
        """Build Events from stored rows (the read hot path: one comprehension, no call per row but the codecs)."""
        events = self._stored(rows)
        if self.sealer is not None:
            events = self.sealer.open(events)
        return [self._upcast(e) for e in events] if self.upcasters else events

    def _stored(self, rows: list[Row]) -> list[Event]:
        """Build Events from stored rows exactly as stored (no opening, no upcasting).

        The read hot path: PostgreSQL's driver returns the times as datetimes already; SQLite's ISO text is parsed
        once per event when the event's two times are equal (an append without ``occurred_at``), which is the rule.
        """
        loads, time = _loads, self._time
        if time is _same:
            return [
                Event(
                    r[2], r[3], r[0], r[4], r[5], loads(r[7]), loads(r[8]) if r[8] != "{}" else {}, r[9], r[10],
                    r[6], r[1],
                )
                for r in rows
            ]  # fmt: skip
        return [
            Event(
                r[2], r[3], r[0], r[4], r[5], loads(r[7]), loads(r[8]) if r[8] != "{}" else {}, (at := time(r[9])),
                at if r[10] == r[9] else time(r[10]), r[6], r[1],
            )
            for r in rows
        ]  # fmt: skip

    def _upcast(self, event: Event) -> Event:
        """Bring an event's payload to the current schema version of its type."""
        schema_version, payload = self.upcasters.upcast(event.type, event.schema_version, dict(event.payload))
        return msgspec.structs.replace(event, schema_version=schema_version, payload=payload)


class PayloadSealer(Protocol):
    """Encrypts an event's personal fields as it is appended and opens them as it is read (erased: shown erased)."""

    def seals(self, event_type: str) -> bool:
        """Whether events of `event_type` carry personal fields (only those are handed to `seal`)."""

    def seal(self, tx: Tx, tenant: str, event: NewEvent) -> Mapping[str, Any]:
        """Return `event`'s payload with its personal fields encrypted, in the appending transaction `tx` (the
        tenant and the event's id may be bound to the ciphertext: an import keeps both)."""

    def open(self, events: list[Event]) -> list[Event]:
        """Return `events` with sealed fields decrypted, or marked erased where the subject's key is gone.

        `events` are fresh from the store: their payloads are this read's own, and may be opened in place.
        """


def _sealed(sealer: PayloadSealer, tx: Tx, tenant: str, e: NewEvent) -> NewEvent:
    if not e.payload or not sealer.seals(e.type):
        return e
    return replace(e, payload=sealer.seal(tx, tenant, e))


def _tenant(tenant: str | None) -> str:
    """The tenant an operation is for: the one named, else the context's."""
    return current_tenant() if tenant is None else check_tenant_id(tenant)


def _same(value: datetime) -> datetime:
    return value


def _closed(stream_id: str, segment: archive.Segment | None) -> RuleViolation:
    where = f" to {segment.tier} storage ({segment.location}) at version {segment.version}" if segment else ""
    return RuleViolation(
        f"stream {stream_id!r} is closed: its events were archived{where} by a tiering policy, and a closed stream "
        "takes no more events; write to a new stream",
        field="stream_id",
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
