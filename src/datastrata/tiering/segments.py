"""Closed streams of the event log as tiering items: one stream is one segment, moved whole to Parquet.

A stream of a ``kind: segments`` dataset is an item keyed by its tenant and stream id (:func:`item_key`), as old as
its last event's ``recorded_at`` and in stage ``ended`` when its last event is one of the dataset's ``ended_by`` types
(else ``open``). Its move out of the online log is the row move's: **copy** its events to
``tiering/<dataset>/tenant=<t>/stream=<id>/v<version>.parquet`` (before tenant keys ``…/stream=<id>/…``: the archive
record names each segment's key, so old ones are still read) → **verify** (SHA-256 of the bytes read back, and the
events' checksum) → set the class → one transaction **records** the move, saves the stream's snapshot (when the dataset
names a snapshotter), records the archived stream and **deletes** its online events. The log reads it back through
its own interface from then on (:mod:`datastrata.eventlog.archive`)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from datastrata.core.errors import ConcurrencyConflict, RuleViolation, ValidationError
from datastrata.core.tenancy import DEFAULT_TENANT
from datastrata.eventlog import archive
from datastrata.eventlog.log import EventLog
from datastrata.eventlog.snapshots import SNAPSHOTTERS, SnapshotStore
from datastrata.projections.follower import LogFollower
from datastrata.stores.database import Row, Tx, time_from_db
from datastrata.tiering import rows as tabular
from datastrata.tiering.plan import Item, Move, Reader
from datastrata.tiering.policy import Dataset, Policy
from datastrata.tiering.tiers import Kind, Tier

if TYPE_CHECKING:
    import pyarrow as pa

    from datastrata.runtime.runtime import Runtime
    from datastrata.tiering.moves import Mover, MoveRecord
    from datastrata.tiering.objects import ObjectStore


_TENANT_KEY = "tenant="
_STREAM_KEY = "/stream="


def item_key(tenant: str, stream_id: str) -> str:
    """The item key of a tenant's stream: the bare stream id for the default tenant, else ``tenant=<t>/stream=<id>``."""
    return stream_id if tenant == DEFAULT_TENANT else f"{_TENANT_KEY}{tenant}{_STREAM_KEY}{stream_id}"


def split_item_key(key: str) -> tuple[str, str]:
    """The ``(tenant, stream id)`` an item key names (see :func:`item_key`)."""
    if key.startswith(_TENANT_KEY) and _STREAM_KEY in key:
        tenant, stream_id = key[len(_TENANT_KEY) :].split(_STREAM_KEY, 1)
        return tenant, stream_id
    return DEFAULT_TENANT, key


def check(policy: Policy, readers: Sequence[Reader]) -> None:
    """Refuse a segments dataset that expires streams a full-log reader needs, or names an unknown snapshotter."""
    for ds in (d for d in policy.datasets.values() if d.kind is Kind.SEGMENTS):
        where = f"datasets.{ds.name}"
        if ds.snapshot and ds.snapshot not in SNAPSHOTTERS:
            raise ValidationError(
                f"{where}.snapshot: no snapshotter named {ds.snapshot!r} is registered (known: "
                f"{', '.join(sorted(SNAPSHOTTERS)) or 'none'}); name one, or remove snapshot",
                field=f"{where}.snapshot",
            )
        for rule in (r for r in ds.rules if r.to is Tier.EXPIRED):
            for reader in (r for r in readers if r.full_log and r.reads(ds.event_types)):
                types = "any event type" if ds.event_types is None else ", ".join(sorted(ds.event_types))
                raise ValidationError(
                    f"{where}.rules[{rule.index}]: expires streams ({types}) that projection {reader.name!r} must "
                    "rebuild from the full log (it declares full_log); remove the expiry, move them to cold or "
                    "frozen instead, or declare the dataset's event_types apart from the projection's",
                    field=f"{where}.rules[{rule.index}].to",
                )


def readers_of(runtime: Runtime) -> list[Reader]:
    """The followers of `runtime`'s home log as a plan sees them: the relay and every projection, opened."""
    runtime.open_followers()
    found = [Reader("relay", runtime.relay.position(), None)]
    for name, runner in runtime.runners.items():
        if isinstance(runner, LogFollower):
            full = bool(runner.full_log or getattr(getattr(runner, "projection", None), "full_log", False))
            found.append(Reader(name, runner.position(), runner.event_types, full_log=full))
        else:
            found.append(Reader(name, runner.lag().position, None))
    return found


class Segments:
    """The segments datasets of one Mover: their items, and their moves out of (and on beyond) the online log."""

    def __init__(self, mover: Mover) -> None:
        self.mover = mover
        self.log = EventLog(mover.db, clock=mover.clock)
        self.snapshots = SnapshotStore(mover.db, clock=mover.clock)

    def items(self, ds: Dataset) -> list[Item]:
        """The dataset's streams: those still in the online log, and archived ones not expired."""
        db = self.mover.db
        with db.read() as tx:
            if tx.dialect == "sqlite":
                match, types = "substr(stream_id, 1, ?) = ?", "group_concat(DISTINCT event_type)"
                size = "length(payload) + length(metadata)"
            else:
                match, types = "left(stream_id, ?::int) = ?", "string_agg(DISTINCT event_type, ',')"
                size = "octet_length(payload::text) + octet_length(metadata::text)"
            online = tx.query(
                "SELECT s.tenant_id, s.stream_id, s.n, s.last_p, s.newest, s.size, e.event_type, s.types FROM ("
                f"SELECT tenant_id, stream_id, max(version) AS v, max(position) AS last_p, count(*) AS n, "
                f"max(recorded_at) AS newest, sum({size}) AS size, {types} AS types "
                f"FROM eventlog_events WHERE {match} GROUP BY tenant_id, stream_id) s "
                "JOIN eventlog_events e ON e.tenant_id = s.tenant_id AND e.stream_id = s.stream_id AND e.version = s.v",
                (len(ds.streams), ds.streams),
            )
        items = [
            Item(
                ds.name,
                item_key(str(tenant), str(sid)),
                Tier.HOT,
                time_from_db(newest),
                rows=int(n),
                bytes=int(size or 0),
                stage=self._stage(ds, str(last_type)),
                last_position=int(last),
                types=frozenset(str(all_types).split(",")),
            )
            for tenant, sid, n, last, newest, size, last_type, all_types in online
        ]
        frozen = self.mover.policy.storage_class(Tier.FROZEN)
        for s in self.archived(ds):
            info = self.mover.objects.info(s.location)
            tier = Tier.FROZEN if info.storage_class == frozen else Tier.COLD  # a half move is planned again
            items.append(
                Item(
                    ds.name,
                    item_key(s.tenant_id, s.stream_id),
                    tier,
                    s.newest,
                    rows=s.events,
                    bytes=info.size,
                    stage=self._stage(ds, s.last_type),
                    placed_at=info.placed_at,
                    last_position=s.last_position,
                    types=frozenset(s.event_types),
                )
            )
        return items

    def archived(self, ds: Dataset) -> list[archive.Segment]:
        """The dataset's archived streams whose segment still exists (not expired), in position order."""
        with self.mover.db.read() as tx:
            found = archive.segments_in(tx)
        return [s for s in found if s.stream_id.startswith(ds.streams) and s.tier != Tier.EXPIRED.value]

    def apply(self, ds: Dataset, move: Move) -> MoveRecord | None:
        """Carry out one move of a stream; None when there was nothing left to move."""
        if move.item.tier is Tier.HOT:
            return self._leave_log(ds, move)
        with self.mover.db.read() as tx:
            segment = archive.segment_in(tx, *split_item_key(move.item.key))
        if segment is None or segment.tier == Tier.EXPIRED.value:
            return None
        record = self.mover._record_id(move, 0, segment.location, segment.events, move.item.bytes, segment.checksum)
        with self.mover.db.transaction() as tx:
            self.mover._insert(tx, record)
            archive.set_tier_in(tx, segment.tenant_id, segment.stream_id, move.to.value)
        if move.to is Tier.EXPIRED:
            self.mover.objects.delete(segment.location)
        else:
            self.mover.objects.set_class(segment.location, self.mover.policy.storage_class(move.to))
        return record

    def _leave_log(self, ds: Dataset, move: Move) -> MoveRecord | None:
        (tenant, stream_id), mover = split_item_key(move.item.key), self.mover
        with mover.db.read() as tx:
            rows = self.log.engine.stream(tx, tenant, stream_id, 1, None, None, None)
        if not rows:
            return None
        version = int(rows[-1][3])
        table = archive.to_table(rows)
        expected = tabular.checksum(table)
        mover._step("started", move)
        if move.to is Tier.EXPIRED:
            location, size = "", 0
        else:
            location = segment_key(ds.name, tenant, stream_id, version)
            copied = lambda: mover._step("copied", move)  # noqa: E731
            size = write_segment(mover.objects, location, table, mover.policy.storage_class(move.to), copied=copied)
            mover._step("verified", move)
        record = mover._record_id(move, 0, location or f"eventlog:{move.item.key}", len(rows), size, expected)
        segment = segment_of(rows, move.to.value, location, expected, time_from_db(record.moved_at))
        with mover.db.transaction() as tx:
            mover._insert(tx, record)
            if ds.snapshot:
                snapshotter = SNAPSHOTTERS[ds.snapshot]
                state = snapshotter.fold(stream_id, self.log._events(rows))
                self.snapshots.save_in(tx, stream_id, version, state, name=snapshotter.snapshot_name, tenant=tenant)
            close_in(tx, self.log, segment, rows)
        mover._step("recorded", move)
        return record

    @staticmethod
    def _stage(ds: Dataset, last_type: str) -> str:
        return "ended" if last_type in ds.ended_by else "open"


def segment_key(dataset: str, tenant: str, stream_id: str, version: int) -> str:
    """The object key of a stream's segment: ``tiering/<dataset>/tenant=<t>/stream=<id>/v<version>.parquet``."""
    return f"tiering/{dataset}/tenant={tenant}/stream={quote(stream_id, safe='')}/v{version}.parquet"


def write_segment(
    objects: ObjectStore, key: str, table: pa.Table, storage_class: str, *, copied: Callable[[], None] = lambda: None
) -> int:
    """Write a stream's events (`table`) as a Parquet segment at `key`, read it back and compare it, then keep it in
    `storage_class`; return its bytes (`copied` is called once it is written, before the comparison)."""
    data = archive.to_parquet(table)
    objects.put(key, data)
    copied()
    stored = objects.read(key)
    if hashlib.sha256(stored).digest() != hashlib.sha256(data).digest() or (
        tabular.checksum(archive.from_parquet(stored)) != tabular.checksum(table)
    ):
        raise RuleViolation(f"the segment written at {key} does not match its stream's events; nothing moved")
    if storage_class != "STANDARD":
        objects.set_class(key, storage_class)
    return len(data)


def segment_of(rows: Sequence[Row], tier: str, location: str, checksum: str, at: datetime) -> archive.Segment:
    """The archive record of one stream's stored `rows` (in version order), segment at `location` in `tier`."""
    types = tuple(sorted({str(r[5]) for r in rows}))
    return archive.Segment(
        str(rows[0][2]),
        str(rows[0][1]),
        int(rows[-1][3]),
        int(rows[0][0]),
        int(rows[-1][0]),
        len(rows),
        types,
        str(rows[-1][5]),
        time_from_db(rows[-1][10]),
        tier,
        location,
        checksum,
        at,
    )


def close_in(tx: Tx, log: EventLog, segment: archive.Segment, rows: Sequence[Row]) -> None:
    """Record `segment` and delete its stream's online events in `tx`; refused when the stream changed meanwhile."""
    deleted = archive.record_in(tx, segment, rows)
    left = log.engine.version(tx, segment.tenant_id, segment.stream_id)
    if deleted != len(rows) or left:
        raise ConcurrencyConflict(
            f"stream {segment.stream_id!r} changed while it was copied ({len(rows)} events copied, {deleted} "
            f"deleted, version {left} left); it is not closed: nothing moved"
        )
