"""A move's archived content: restores for what an archive class holds, and closed streams archived again.

Two kinds of a tenant's content cannot be copied as they are:

- **Archived objects** (GLACIER, DEEP_ARCHIVE), the segments of **frozen** streams and archived **cold row parts**
  (which may hold the tenant's rows: :mod:`datastrata.tiering.tenantrows`) cannot be read: the move asks
  for their restore (:meth:`ObjectStore.restore`, tier ``standard``, kept :data:`RESTORE_DAYS` days), journals each
  request with its ETA, and waits in its ``restore`` step until they are readable; the object copy then puts each in
  its class at the target again (:meth:`ObjectStore.copy_to`: stage and ages kept, not restored there).
- **Archived streams**: their events are re-appended at the target online (:meth:`TenantEvents.copy` merges them in
  source order), the target's followers read them, and :meth:`TenantArchive.close` archives them there again with
  the tiering segment writer (:func:`datastrata.tiering.segments.write_segment`): the target's positions, a segment in
  the target's object store, the record pointing at it, the stream closed.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from datastrata.core.errors import RuleViolation
from datastrata.eventlog import archive
from datastrata.runtime.location import Location
from datastrata.runtime.moveobjects import TenantObjects
from datastrata.stores.database import Row
from datastrata.tiering import rows as tabular
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.segments import close_in, segment_of, write_segment
from datastrata.tiering.tenantrows import TenantRows

#: The restore tier a move asks for: hours, not minutes, at a hundredth of expedited's price (and DEEP_ARCHIVE has
#: no expedited tier).
RESTORE_TIER = "standard"
#: Days a restored copy stays readable: long enough for the copy of a large tenant after the last ETA.
RESTORE_DAYS = 7
_EXPIRED = "expired"
_SUFFIX = re.compile(r"(-p\d+)?\.parquet$")


class TenantArchive:
    """Restores for a tenant's archived objects and frozen segments; its archived streams closed at the target."""

    def __init__(self, objects: TenantObjects | None = None) -> None:
        self.objects = objects or TenantObjects()

    # ---- restores ------------------------------------------------------------------------------------------

    def plan(self, location: Location, subject: str) -> dict[str, Any]:
        """What the move's plan says of `subject`'s archived content in `location`, asking for nothing."""
        segments = _segments(location, subject)
        now = location.clock()
        needed = []
        for kind, info, store in self._archived(location, subject):
            ready = info.restore.ready_at if info.restore is not None and now < info.restore.expires_at else None
            if ready is None:
                ready = now + store.prices.restore(info.storage_class, RESTORE_TIER).duration
            needed.append(_entry(kind, info.key, info.storage_class, info.size, ready, standing=ready <= now))
        return {
            "streams": len(segments),
            "stream_events": sum(s.events for s in segments),
            "objects": needed,
            "restore_tier": RESTORE_TIER,
            "restore_eta": _eta(needed),
        }

    def request(self, location: Location, subject: str) -> list[dict[str, Any]]:
        """Ask for the restore of every archived object and frozen segment of `subject` not readable; the requests.

        A request standing already (asked by an earlier try, or by the owner) is returned, not asked again.
        """
        found = []
        for kind, info, store in self._archived(location, subject):
            answer = store.restore(info.key, tier=RESTORE_TIER, days=RESTORE_DAYS)
            found.append(_entry(kind, info.key, info.storage_class, info.size, answer.ready_at))
        return found

    def pending(self, location: Location, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The requests whose copy is not readable yet (one whose restored copy expired meanwhile is asked again)."""
        store = self.objects.store(location)
        if store is None:
            return []
        now, left = location.clock(), []
        for entry in requests:
            if not store.exists(entry["key"]):
                continue  # deleted at the source meanwhile: nothing to copy
            info = store.info(entry["key"])
            if info.readable(now):
                continue
            if info.restore is None or now >= info.restore.expires_at:
                entry["ready_at"] = store.restore(info.key, tier=RESTORE_TIER, days=RESTORE_DAYS).ready_at.isoformat()
            left.append(entry)
        return left

    def unreadable(self, location: Location, subject: str) -> list[str]:
        """The keys of `subject`'s objects and segments in `location` not readable now (archived, not restored)."""
        return [info.key for _, info, _ in self._archived(location, subject)]

    # ---- archived streams ----------------------------------------------------------------------------------

    def close(self, source: Location, target: Location, subject: str) -> int:
        """Archive again at `target` every stream of `subject` archived at `source` and not there; how many.

        Its events are online at the target already (re-appended with the target's positions, read by its followers):
        they are written to a segment in the target's object store, in the class the source keeps it in, and one
        transaction records the segment, carries the stream's snapshots and deletes the online events. An expired
        stream (its events gone) keeps its record only. A redone close skips what is closed already.
        """
        store = self.objects.store(target)
        closed = 0
        for segment in _segments(source, subject):
            with target.db.read() as tx:
                if archive.segment_in(tx, subject, segment.stream_id) is not None:
                    continue
                rows = target.log.engine.stream(tx, subject, segment.stream_id, 1, None, None, None)
            snapshots = _snapshots(source, subject, segment.stream_id)
            if segment.tier == _EXPIRED:
                record, rows = _expired(source, segment)
            else:
                if store is None:
                    raise RuleViolation(
                        f"tenant {subject}'s stream {segment.stream_id!r} is archived, but the move's target "
                        f"{target.name} has no object store to keep its segment in; configure its objects URL"
                    )
                if len(rows) != segment.events or not rows or int(rows[-1][3]) != segment.version:
                    raise RuleViolation(
                        f"archived stream {segment.stream_id!r} of {subject}: {len(rows)} of its {segment.events} "
                        f"events are at {target.name}; the move's events step re-appends them first (resume the move)"
                    )
                table = archive.to_table(rows)
                key = _SUFFIX.sub(f"-p{int(rows[0][0])}.parquet", segment.location)
                write_segment(store, key, table, self._class_of(source, segment))
                record = segment_of(rows, segment.tier, key, tabular.checksum(table), segment.archived_at)
            with target.db.transaction() as tx:
                for name, version, state in snapshots:
                    target.snapshots.save_in(tx, segment.stream_id, version, state, name=name, tenant=subject)
                if record.tier == _EXPIRED:
                    archive.record_in(tx, record, rows)  # any online events of it go (expired at the source since)
                else:
                    close_in(tx, target.log, record, rows)
            closed += 1
        return closed

    def digest(self, location: Location, subject: str) -> tuple[int, str]:
        """How many archived streams `subject` has in `location`, and a SHA-256 over what each holds (its version,
        events, types, tier, newest time and event ids), without the positions and keys that differ per location."""
        sha = hashlib.sha256()
        segments = sorted(_segments(location, subject), key=lambda s: s.stream_id)
        with location.db.read() as tx:
            ids = tx.query(
                "SELECT stream_id, event_id FROM eventlog_archived_events WHERE tenant_id = ? ORDER BY stream_id, "
                "event_id",
                (subject,),
            )
        by_stream: dict[str, list[str]] = {}
        for stream_id, event_id in ids:
            by_stream.setdefault(str(stream_id), []).append(str(event_id))
        for s in segments:
            fields = (s.stream_id, s.version, s.events, ",".join(s.event_types), s.last_type, s.tier)
            sha.update(f"{fields}\t{s.newest.isoformat()}\t{','.join(by_stream.get(s.stream_id, []))}\n".encode())
        return len(segments), sha.hexdigest()

    def delete(self, location: Location, subject: str) -> int:
        """Delete the segment objects of `subject`'s archived streams in `location` (their records go with its log)."""
        store = self.objects.store(location)
        segments = [s for s in _segments(location, subject) if s.location and s.tier != _EXPIRED]
        if store is not None:
            for segment in segments:
                store.delete(segment.location)
        return len(segments)

    # ---- helpers -------------------------------------------------------------------------------------------

    def _archived(self, location: Location, subject: str) -> list[tuple[str, Any, ObjectStore]]:
        """Every object and segment of `subject` in `location` that cannot be read now: (kind, info, its store)."""
        store = self.objects.store(location)
        if store is None:
            return []
        now = location.clock()
        found: list[tuple[str, Any, ObjectStore]] = [
            ("object", info, store) for info in self.objects.objects_of(store, subject) if not info.readable(now)
        ]
        for segment in _segments(location, subject):
            if segment.tier != _EXPIRED and segment.location and store.exists(segment.location):
                info = store.info(segment.location)
                if not info.readable(now):
                    found.append(("segment", info, store))
        for part in TenantRows(location.db, store).unreadable():  # it may hold the tenant's cold rows
            found.append(("cold part", store.info(part.location), store))
        return found

    def _class_of(self, location: Location, segment: archive.Segment) -> str:
        store = self.objects.store(location)
        if store is None or not store.exists(segment.location):
            return "STANDARD"
        return store.info(segment.location).storage_class


def _segments(location: Location, subject: str) -> list[archive.Segment]:
    """Every archived stream of `subject` in `location`'s log (expired ones too), in position order."""
    with location.db.read() as tx:
        return archive.segments_in(tx, after=-1, tenant=subject)


def _snapshots(location: Location, subject: str, stream_id: str) -> list[tuple[str, int, dict[str, Any]]]:
    """The snapshots of an archived stream (saved as it was archived: an aggregate loads from them, not the segment)."""
    with location.db.read() as tx:
        names = [
            str(r[0])
            for r in tx.query(
                "SELECT name FROM eventlog_snapshots WHERE tenant_id = ? AND stream_id = ? ORDER BY name",
                (subject, stream_id),
            )
        ]
        found = [location.snapshots.load_in(tx, stream_id, name=n, tenant=subject) for n in names]
    return [(s.name, s.version, s.state) for s in found if s is not None]


def _expired(location: Location, segment: archive.Segment) -> tuple[archive.Segment, list[Row]]:
    """An expired stream's record for another log: no positions there (it has no events to skip), its event ids."""
    with location.db.read() as tx:
        ids = tx.query(
            "SELECT event_id FROM eventlog_archived_events WHERE tenant_id = ? AND stream_id = ? ORDER BY event_id",
            (segment.tenant_id, segment.stream_id),
        )
    record = archive.Segment(
        segment.stream_id,
        segment.tenant_id,
        segment.version,
        0,
        0,
        segment.events,
        segment.event_types,
        segment.last_type,
        segment.newest,
        segment.tier,
        "",
        segment.checksum,
        segment.archived_at,
    )
    return record, [(0, segment.tenant_id, segment.stream_id, 0, str(r[0])) for r in ids]


def _entry(
    kind: str, key: str, storage_class: str, size: int, ready: datetime, *, standing: bool = False
) -> dict[str, Any]:
    entry = {"kind": kind, "key": key, "storage_class": storage_class, "bytes": size, "tier": RESTORE_TIER}
    return {**entry, "ready_at": ready.isoformat(), **({"restored": True} if standing else {})}


def _eta(entries: list[dict[str, Any]]) -> str | None:
    """When the last of `entries` is readable (None: nothing to restore)."""
    return max((e["ready_at"] for e in entries), default=None)
