"""A persistence module for the `eventsourcing` library that keeps an application's events in datastrata's log.

Use it with ``PERSISTENCE_MODULE=datastrata.integrations.eventsourcing`` and ``DATASTRATA_STORE=sqlite:///app.db``
(or a ``postgresql://`` URL). A stored event becomes one datastrata event: stream = ``str(originator_id)``, type =
topic, payload = the state (readable JSON when the transcoder wrote canonical JSON, else base64), notification id =
global position. docs/eventsourcing-integration.md explains the mapping and its choices.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar
from uuid import UUID

from datastrata.core.config import load_settings
from datastrata.core.errors import ConcurrencyConflict, ValidationError
from datastrata.core.events import Event, NewEvent
from datastrata.eventlog.log import EventLog
from datastrata.eventlog.schema import MIGRATIONS as EVENTLOG
from datastrata.eventlog.snapshots import SnapshotStore
from datastrata.eventlog.subscriptions import Waiter, waiter_for
from datastrata.stores.database import Database, Dialect, Tx
from datastrata.stores.migrations import Component, migrate
from datastrata.stores.open import open_database

try:
    from eventsourcing.persistence import (
        AggregateRecorder,
        ApplicationRecorder,
        DataError,
        InfrastructureFactory,
        IntegrityError,
        ListenNotifySubscription,
        Notification,
        ProcessRecorder,
        Recorder,
        StoredEvent,
        Subscription,
        Tracking,
        TrackingRecorder,
    )
    from eventsourcing.utils import Environment, EnvType, resolve_topic, strtobool
except ImportError as exc:  # pragma: no cover - depends on installed packages
    raise ImportError(
        "datastrata.integrations.eventsourcing needs the eventsourcing library; install it with: "
        "pip install 'eventsourcing>=9.5,<9.6'"
    ) from exc

#: The metadata key under which each event keeps what eventsourcing needs to rebuild its StoredEvent.
META_KEY: Final = "eventsourcing"
#: Transaction-scoped advisory lock that orders eventsourcing writers on PostgreSQL (see Factory).
WRITE_LOCK_KEY: Final = 724_106
_TRACKING_DDL = """
CREATE TABLE IF NOT EXISTS eventsourcing_tracking (
    application_name TEXT   PRIMARY KEY,
    notification_id  BIGINT NOT NULL
);
"""
_UPSERT_TRACKING = (
    "INSERT INTO eventsourcing_tracking (application_name, notification_id) VALUES (?, ?) "
    "ON CONFLICT (application_name) DO UPDATE SET notification_id = excluded.notification_id "
    "WHERE eventsourcing_tracking.notification_id < excluded.notification_id RETURNING notification_id"
)
_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


# ---- state bytes <-> JSON payload ------------------------------------------------------------------------------


class _NotPortable(ValueError):
    """The JSON would not come back from the store with the same values and types."""


def _reject_constant(name: str) -> Any:
    raise _NotPortable(f"{name} is not JSON")


def _plain_float(text: str) -> float:
    """Accept floats that PostgreSQL's numeric returns in the same form (no exponent, no negative zero)."""
    value = float(text)
    if "e" in text or "E" in text or (value == 0 and text.startswith("-")):
        raise _NotPortable(text)
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _NotPortable("duplicate key")
    return obj


_decode_strict = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_plain_float, object_pairs_hook=_unique_keys
).decode


def encode_state(state: bytes) -> tuple[dict[str, Any], str]:
    """Return the payload that stores `state` and its encoding (``"json"`` or ``"base64"``).

    State that is a compact JSON object (what eventsourcing's JSONTranscoder writes) is stored as the object itself,
    so datastrata's readers see the event's fields; anything else (compressed, encrypted, other transcoders, JSON
    that would not round-trip exactly) is stored as ``{"state_b64": …}``.
    """
    if state[:1] == b"{" and b"\\u0000" not in state:
        try:
            text = state.decode("utf-8")
            obj = _decode_strict(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and _encode_json(obj) == text:
            return obj, "json"
    return {"state_b64": base64.b64encode(state).decode("ascii")}, "base64"


def decode_state(payload: Mapping[str, Any], encoding: str) -> bytes:
    """Return the state bytes stored in `payload` (JSON comes back compact; object keys may be reordered)."""
    if encoding == "json":
        return _encode_json(payload).encode("utf-8")
    return base64.b64decode(payload["state_b64"])


def to_new_event(stored: StoredEvent) -> NewEvent:
    """Map an eventsourcing StoredEvent onto a datastrata event to append."""
    payload, encoding = encode_state(stored.state)
    meta = {
        "originator_version": stored.originator_version,
        "originator_id_type": "uuid" if isinstance(stored.originator_id, UUID) else "str",
        "state": encoding,
    }
    return NewEvent(type=stored.topic, payload=payload, metadata={META_KEY: meta})


def _meta(event: Event) -> Mapping[str, Any] | None:
    meta = event.metadata.get(META_KEY)
    return meta if isinstance(meta, Mapping) else None


def _own_meta(event: Event) -> Mapping[str, Any]:
    meta = _meta(event)
    if meta is None:
        raise DataError(
            f"stream {event.stream_id!r} holds event version {event.version} ({event.type!r}) that was not "
            "written through eventsourcing; keep eventsourcing aggregates and other streams apart"
        )
    return meta


def to_stored_event(event: Event, meta: Mapping[str, Any]) -> StoredEvent:
    """Map a datastrata event written by this module back onto a StoredEvent."""
    originator_id: UUID | str = UUID(event.stream_id) if meta["originator_id_type"] == "uuid" else event.stream_id
    return StoredEvent(
        originator_id=originator_id,
        originator_version=int(meta["originator_version"]),
        topic=event.type,
        state=decode_state(event.payload, str(meta["state"])),
    )


def to_notification(event: Event, meta: Mapping[str, Any]) -> Notification:
    """Map a datastrata event written by this module onto a Notification whose id is its global position."""
    stored = to_stored_event(event, meta)
    return Notification(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=stored.state,
        id=event.position,
    )


def tracking_ddl(dialect: Dialect) -> str:
    """Return the tracking table's DDL (the same on both engines)."""
    return _TRACKING_DDL


#: The tracking table's schema.
TRACKING_MIGRATIONS = Component.baseline("eventsourcing_tracking", tracking_ddl)


def insert_tracking_in(tx: Tx, tracking: Tracking) -> None:
    """Move `tracking.application_name`'s position forward inside `tx`; refuse to stay or go back."""
    if not tx.query(_UPSERT_TRACKING, (tracking.application_name, tracking.notification_id)):
        raise IntegrityError(
            f"tracking for {tracking.application_name!r} is already at or past notification "
            f"{tracking.notification_id}; that notification was processed before"
        )


def _runs(stored_events: Sequence[StoredEvent]) -> list[tuple[str, list[StoredEvent]]]:
    """Group consecutive events of one aggregate, checking their versions follow each other."""
    runs: list[tuple[str, list[StoredEvent]]] = []
    for stored in stored_events:
        stream = str(stored.originator_id)
        if runs and runs[-1][0] == stream:
            previous = runs[-1][1][-1].originator_version
            if stored.originator_version != previous + 1:
                raise IntegrityError(
                    f"aggregate {stream} has version {previous} followed by {stored.originator_version} in one "
                    "write; versions of an aggregate must be unique and consecutive"
                )
            runs[-1][1].append(stored)
        else:
            runs.append((stream, [stored]))
    return runs


# ---- recorders -------------------------------------------------------------------------------------------------


class DatastrataRecorder(Recorder):
    """Base of the recorders: a datastrata Database and how to write to it."""

    def __init__(self, db: Database, *, serialize_writes: bool = True) -> None:
        super().__init__()
        self.db = db
        self.serialize_writes = serialize_writes


class DatastrataAggregateRecorder(DatastrataRecorder, AggregateRecorder):
    """Stores each aggregate's events as one datastrata stream (stream id = ``str(originator_id)``)."""

    def __init__(self, db: Database, *, serialize_writes: bool = True) -> None:
        super().__init__(db, serialize_writes=serialize_writes)
        self.log = EventLog(db)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Append the events atomically; a version that exists or skips ahead raises IntegrityError."""
        self._write(stored_events, None)
        return None

    def _write(self, stored_events: Sequence[StoredEvent], tracking: Tracking | None) -> list[int]:
        """Append every run of events, and the tracking record, in one transaction; return the positions."""
        runs = _runs(stored_events)
        if not runs and tracking is None:
            return []
        positions: list[int] = []
        try:
            with self.db.transaction() as tx:
                if self.serialize_writes and tx.dialect == "postgresql":
                    tx.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK_KEY,))
                tails: dict[str, tuple[int, int]] = {}  # stream -> (last originator version, last log version)
                for stream, run in runs:
                    expected = self._expected_version(tx, stream, run[0].originator_version, tails.get(stream))
                    result = self.log.append_in(tx, stream, [to_new_event(s) for s in run], expected_version=expected)
                    positions.extend(e.position for e in result.events)
                    tails[stream] = (run[-1].originator_version, result.version)
                if tracking is not None:
                    insert_tracking_in(tx, tracking)
        except ConcurrencyConflict as exc:
            raise IntegrityError(str(exc)) from exc
        except ValidationError as exc:
            raise DataError(str(exc)) from exc
        return positions

    def _expected_version(self, tx: Tx, stream: str, first: int, tail: tuple[int, int] | None) -> int:
        """Return the log version `stream` must be at for `first` to be its next originator version."""
        if tail is not None:
            if first != tail[0] + 1:
                raise IntegrityError(f"aggregate {stream} gets version {first} after {tail[0]} in one write")
            return tail[1]
        head = self.log.read_in(tx, stream, from_version=1, to_version=1)
        if not head:
            return 0
        expected = first - int(_own_meta(head[0])["originator_version"])
        if expected < 0:
            raise IntegrityError(f"aggregate {stream} starts after version {first}; it cannot be prepended to")
        return expected

    def _base(self, stream: str) -> int | None:
        """Return the originator version of the stream's first event (None for no events)."""
        head = self.log.read(stream, from_version=1, to_version=1)
        return int(_own_meta(head[0])["originator_version"]) if head else None

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """Read an aggregate's events by originator version (log version = originator version - first + 1)."""
        stream = str(originator_id)
        if limit is not None and limit <= 0:
            return []
        if gt is None and lte is None and not desc:
            events = self.log.read(stream, limit=limit)
        else:
            base = self._base(stream)
            if base is None:
                return []
            low = 1 if gt is None else max(gt - base + 2, 1)
            high = None if lte is None else lte - base + 1
            if desc and limit is not None:
                top = self.log.version(stream) if high is None else high
                low, high = max(low, top - limit + 1), top
            if high is not None and high < low:
                return []
            events = self.log.read(stream, from_version=low, to_version=high, limit=None if desc else limit)
            if desc:
                events.reverse()
        return [to_stored_event(e, _own_meta(e)) for e in events]


class DatastrataApplicationRecorder(DatastrataAggregateRecorder, ApplicationRecorder):
    """Also reads the application sequence: the events written through eventsourcing, in global-log order."""

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Append the events atomically and return their notification ids (global positions)."""
        return self._write(stored_events, None)

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """Return up to `limit` notifications with start <= id <= stop (start < id if not inclusive).

        Reads go through EventLog.read_page, so on PostgreSQL they stop below the transaction horizon and a
        follower never skips a late commit. Events in the log that were not written through eventsourcing are
        left out.
        """
        after = 0 if start is None else max(start - 1 if inclusive_of_start else start, 0)
        types = list(topics) or None
        notifications: list[Notification] = []
        while len(notifications) < limit:
            wanted = limit - len(notifications)
            page = self.log.read_page(after=after, limit=wanted, types=types)
            for event in page.events:
                if stop is not None and event.position > stop:
                    return notifications
                meta = _meta(event)
                if meta is not None:
                    notifications.append(to_notification(event, meta))
            if len(page.events) < wanted or page.next_after <= after:
                break
            after = page.next_after
        return notifications

    def max_notification_id(self) -> int | None:
        """Return the head of the log a follower can read now (None for an empty log)."""
        return self.log.head() or None

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription[ApplicationRecorder]:
        """Return an iterator of notifications after `gt` that blocks for new ones."""
        return DatastrataSubscription(self, gt=gt, topics=topics)


class DatastrataSubscription(ListenNotifySubscription[DatastrataApplicationRecorder]):
    """Pulls notifications, woken by datastrata's waiter (LISTEN/NOTIFY on PostgreSQL, commits on SQLite)."""

    #: Pull at least this often even without a wake-up (a transaction that ends moves the horizon silently).
    poll_interval: float = 0.2

    def __init__(
        self, recorder: DatastrataApplicationRecorder, gt: int | None = None, topics: Sequence[str] = ()
    ) -> None:
        self._waiter: Waiter = waiter_for(recorder.db)
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._wake_thread = threading.Thread(target=self._wake, daemon=True)
        self._wake_thread.start()

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        try:
            super().__exit__(*args, **kwargs)
        finally:
            self._wake_thread.join()

    def _wake(self) -> None:
        try:
            while not self._has_been_stopped:
                self._waiter.wait(self.poll_interval)
                self._has_been_notified.set()
        except BaseException as exc:
            if self._thread_error is None:
                self._thread_error = exc
            self.stop()
        finally:
            self._waiter.close()


class DatastrataTrackingRecorder(DatastrataRecorder, TrackingRecorder):
    """Keeps, per upstream application, the last notification id processed (table ``eventsourcing_tracking``)."""

    def __init__(self, db: Database, *, serialize_writes: bool = True) -> None:
        super().__init__(db, serialize_writes=serialize_writes)
        db.ensure(TRACKING_MIGRATIONS)

    def insert_tracking(self, tracking: Tracking) -> None:
        """Record that `tracking.notification_id` was processed; an id not above the last raises IntegrityError."""
        with self.db.transaction() as tx:
            insert_tracking_in(tx, tracking)

    def max_tracking_id(self, application_name: str) -> int | None:
        """Return the last notification id recorded for `application_name`, or None."""
        with self.db.session() as tx:
            value = tx.scalar(
                "SELECT notification_id FROM eventsourcing_tracking WHERE application_name = ?", (application_name,)
            )
        return None if value is None else int(value)


class DatastrataProcessRecorder(DatastrataTrackingRecorder, DatastrataApplicationRecorder, ProcessRecorder):
    """Writes new events and the tracking record of the notification that caused them in one transaction."""

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Append the events and record ``kwargs["tracking"]`` (if given) atomically."""
        tracking = kwargs.get("tracking")
        return self._write(stored_events, tracking if isinstance(tracking, Tracking) else None)


class DatastrataSnapshotRecorder(DatastrataRecorder, AggregateRecorder):
    """Keeps the latest snapshot of each aggregate in datastrata's snapshot table (name ``eventsourcing.<purpose>``).

    Older snapshots are not kept: asked for one at or below a version older than the latest, it returns none, and
    eventsourcing replays that aggregate's events from the start instead.
    """

    def __init__(self, db: Database, *, purpose: str = "snapshots", serialize_writes: bool = True) -> None:
        super().__init__(db, serialize_writes=serialize_writes)
        self.store = SnapshotStore(db)
        self.name = f"{META_KEY}.{purpose}"

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Store each snapshot unless a newer one of its aggregate is stored already."""
        with self.db.transaction() as tx:
            for stored in stored_events:
                payload, encoding = encode_state(stored.state)
                state = {
                    "topic": stored.topic,
                    "originator_id_type": "uuid" if isinstance(stored.originator_id, UUID) else "str",
                    "encoding": encoding,
                    "state": payload,
                }
                self.store.save_in(tx, str(stored.originator_id), stored.originator_version, state, name=self.name)
        return None

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """Return the latest snapshot if it lies in (gt, lte], else nothing."""
        snapshot = self.store.load(str(originator_id), name=self.name, max_version=lte)
        if snapshot is None or (gt is not None and snapshot.version <= gt) or (limit is not None and limit <= 0):
            return []
        state = snapshot.state
        return [
            StoredEvent(
                originator_id=UUID(snapshot.stream_id) if state["originator_id_type"] == "uuid" else snapshot.stream_id,
                originator_version=snapshot.version,
                topic=str(state["topic"]),
                state=decode_state(state["state"], str(state["encoding"])),
            )
        ]


# ---- factory ---------------------------------------------------------------------------------------------------

_R = TypeVar("_R", bound=DatastrataRecorder)


class Factory(InfrastructureFactory[DatastrataTrackingRecorder]):
    """Builds recorders on the datastrata store named by ``DATASTRATA_STORE`` (per application: ``<APP>_…``).

    Without ``DATASTRATA_STORE`` in eventsourcing's environment it uses datastrata's own settings (the variable in
    the process environment, ``datastrata.toml``, or the embedded default). On PostgreSQL, writers take a
    transaction-scoped advisory lock so notification ids commit in increasing order, as eventsourcing's own
    PostgreSQL module guarantees with a table lock; ``DATASTRATA_SERIALIZE_WRITES=no`` drops it for applications
    whose followers only pull (their reads stop below the transaction horizon and miss nothing either way).
    """

    DATASTRATA_STORE = "DATASTRATA_STORE"
    SERIALIZE_WRITES = "DATASTRATA_SERIALIZE_WRITES"
    #: eventsourcing's own switch: ``yes`` (its default) applies datastrata's pending migrations at start, on
    #: PostgreSQL too (the application then needs DDL rights); ``no`` expects them applied already.
    CREATE_TABLE = "CREATE_TABLE"

    aggregate_recorder_class: type[DatastrataAggregateRecorder] = DatastrataAggregateRecorder
    application_recorder_class: type[DatastrataApplicationRecorder] = DatastrataApplicationRecorder
    tracking_recorder_class: type[DatastrataTrackingRecorder] = DatastrataTrackingRecorder
    process_recorder_class: type[DatastrataProcessRecorder] = DatastrataProcessRecorder
    snapshot_recorder_class: type[DatastrataSnapshotRecorder] = DatastrataSnapshotRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        url = self.env.get(self.DATASTRATA_STORE) or load_settings().store
        self.serialize_writes = strtobool(self.env.get(self.SERIALIZE_WRITES) or "yes")
        self.db = open_database(url)
        if strtobool(self.env.get(self.CREATE_TABLE) or "yes"):
            migrate(self.db, [EVENTLOG, TRACKING_MIGRATIONS])

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        """Return the event recorder for ``"events"``, and a latest-snapshot recorder for any other purpose."""
        if purpose == "events":
            return self.aggregate_recorder_class(self.db, serialize_writes=self.serialize_writes)
        return self.snapshot_recorder_class(self.db, purpose=purpose, serialize_writes=self.serialize_writes)

    def application_recorder(self) -> ApplicationRecorder:
        """Return the application recorder (``APPLICATION_RECORDER_TOPIC`` may name a subclass)."""
        cls = self._resolve(self.APPLICATION_RECORDER_TOPIC, self.application_recorder_class)
        return cls(self.db, serialize_writes=self.serialize_writes)

    def tracking_recorder(
        self, tracking_recorder_class: type[DatastrataTrackingRecorder] | None = None
    ) -> DatastrataTrackingRecorder:
        """Return a tracking recorder (of the given class, or of ``TRACKING_RECORDER_TOPIC``)."""
        cls = tracking_recorder_class or self._resolve(self.TRACKING_RECORDER_TOPIC, self.tracking_recorder_class)
        return cls(self.db, serialize_writes=self.serialize_writes)

    def process_recorder(self) -> ProcessRecorder:
        """Return the process recorder (``PROCESS_RECORDER_TOPIC`` may name a subclass)."""
        cls = self._resolve(self.PROCESS_RECORDER_TOPIC, self.process_recorder_class)
        return cls(self.db, serialize_writes=self.serialize_writes)

    def _resolve(self, key: str, default: type[_R]) -> type[_R]:
        """Return the class named by environment variable `key`, checked to be a `default` subclass."""
        topic = self.env.get(key)
        if not topic:
            return default
        cls = resolve_topic(topic)
        if not (isinstance(cls, type) and issubclass(cls, default)):
            raise TypeError(f"{key}={topic!r} names {cls!r}, which is not a subclass of {default.__qualname__}")
        return cls

    def close(self) -> None:
        """Close the store's connections."""
        self.db.close()
