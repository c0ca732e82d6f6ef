"""A move's events: one tenant's log (or a shard range's streams) paged at the source, re-appended at the target.

The event log's tenant-keyed API does the work (``EventLog.tenant_page``, ``import_in``, ``tenant_count``,
``delete_tenant_in``); this adapter gives the move workflow (:class:`datastrata.runtime.moves.EventsPart`) its
four operations. Payloads travel as stored, sealed personal fields included, so the digests of both ends agree.

The events of the tenant's archived (closed) streams are re-appended too, read back from their segments and merged
into the pages in source order; :mod:`datastrata.runtime.movearchive` archives them again at the target once its
followers have read them. ``count`` and ``digest`` compare the online log (archived streams compare apart).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import orjson

from datastrata.core.events import Event
from datastrata.core.tenancy import platform
from datastrata.eventlog import archive
from datastrata.eventlog.log import Page
from datastrata.runtime.location import Location
from datastrata.runtime.slotrange import SlotRange, key_of_stream

#: Events per page read at the source and imported in one transaction at the target.
PAGE = 1000


class TenantEvents:
    """Carries one tenant's events between the logs of two locations."""

    def copy(self, source: Location, target: Location, subject: str, after: int) -> tuple[int, int]:
        """Import one page of `subject`'s events after source position `after`: (the next cursor, events)."""
        page = source.log.tenant_page(subject, after, PAGE)
        closed = _archived(source, target, subject, after, page.next_after if page.events else None)
        events = sorted([*page.events, *closed], key=lambda e: e.position)
        imported = 0
        if events:
            with target.db.transaction() as tx:
                imported = target.log.import_in(tx, events)  # one stored already is skipped: a redone page is harmless
        return page.next_after, len(page.events) or imported

    def count(self, location: Location, subject: str) -> int:
        """Return how many events of `subject` `location`'s log holds."""
        return location.log.tenant_count(subject)

    def digest(self, location: Location, subject: str, after: int = 0, upto: int | None = None) -> tuple[int, str]:
        """Return how many of `subject`'s events have `after` < position <= `upto` and the SHA-256 over them."""
        tally = _Tally()
        while True:
            page = location.log.tenant_page(subject, after, PAGE)
            if not tally.add(page.events, upto):
                return tally.result()
            after = page.next_after

    def delete(self, location: Location, subject: str) -> int:
        """Delete `subject`'s events in `location` (a completed move's source, a reversed move's target).

        On SQLite (one writer for the whole store) the events go a page per short transaction first, so the other
        tenants' writers wait for one page at a time, never for the whole log; the owner's delete finishes the rest
        (snapshots, archive records). PostgreSQL's owner function deletes them at once (writers do not wait on it).
        """
        deleted = 0
        while location.db.dialect == "sqlite":
            with location.db.transaction() as tx:
                gone = int(
                    tx.execute(
                        "DELETE FROM eventlog_events WHERE position IN (SELECT position FROM eventlog_events "
                        f"WHERE tenant_id = ? LIMIT {DELETE_PAGE})",
                        (subject,),
                    ).rowcount
                )
            deleted += gone
            if gone < DELETE_PAGE:
                break
        with location.db.transaction() as tx:
            return deleted + location.log.delete_tenant_in(tx, subject)


def _archived(source: Location, target: Location, subject: str, after: int, upto: int | None) -> list[Event]:
    """The events of `subject`'s streams archived at `source` (and not at `target`) with `after` < position <=
    `upto` (None: every one after `after`), as stored."""
    with source.db.read() as tx:
        segments = [
            s
            for s in archive.segments_in(tx, after=after, tenant=subject)
            if s.tier != "expired" and (upto is None or s.first_position <= upto)
        ]
    found: list[Event] = []
    for segment in segments:
        with target.db.read() as tx:
            if archive.segment_in(tx, subject, segment.stream_id) is not None:
                continue  # archived there again already: its events left that log's online part
        found += [
            e
            for e in source.log.archived_events(segment)
            if e.position > after and (upto is None or e.position <= upto)
        ]
    return found


class _Tally:
    """Events counted and hashed in their order (the digest both kinds of move compare)."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.count = 0

    def add(self, events: Sequence[Event], upto: int | None, keep: Callable[[str], bool] = lambda _: True) -> bool:
        """Count and hash `events` up to position `upto`; whether to read on (False: past `upto`, or no events)."""
        for event in events:
            if upto is not None and event.position > upto:
                return False
            if keep(event.stream_id):
                self.sha.update(_canonical(event))
                self.count += 1
        return bool(events)

    def result(self) -> tuple[int, str]:
        """(events counted, their SHA-256)."""
        return self.count, self.sha.hexdigest()


def _canonical(event: Event) -> bytes:
    """An event's identity and content as bytes, without its position (which differs between the two logs)."""
    return (
        orjson.dumps(
            [
                event.event_id,
                event.stream_id,
                event.version,
                event.type,
                event.schema_version,
                event.payload,
                event.metadata,
                event.occurred_at.isoformat(),
                event.recorded_at.isoformat(),
            ],
            option=orjson.OPT_SORT_KEYS,
        )
        + b"\n"
    )


#: Streams whose events one clean-up transaction deletes (short transactions: SQLite has one writer).
DELETE_STREAMS = 50
#: Events one clean-up transaction deletes at most.
DELETE_PAGE = 2000


class ShardEvents:
    """Carries the events of one shard range (every tenant's streams whose key it holds) between two shards' logs.

    The source log is paged whole and each event kept when its stream's key (after the first '-') is in the range;
    the digest is :class:`TenantEvents`' canonical form, so both kinds compare events the same way.
    """

    def __init__(self, slots: SlotRange) -> None:
        self.slots = slots
        self._holds_key = slots.holder()

    def page(self, location: Location, subject: str, after: int, limit: int = PAGE) -> Page:
        """Return the range's next events after `after` (pages without any are skipped) and where to go on."""
        while True:
            page = location.log.stored_page(after, limit)
            kept = [e for e in page.events if self._holds(e.stream_id)]
            if kept or not page.events:
                return Page(kept, page.next_after)
            after = page.next_after

    def copy(self, source: Location, target: Location, subject: str, after: int) -> tuple[int, int]:
        """Import the range's events of one page of the source after `after`: (the next cursor, events scanned)."""
        page = source.log.stored_page(after, PAGE)
        kept = [e for e in page.events if self._holds(e.stream_id)]
        if kept:
            with platform(), target.db.transaction() as tx:
                target.log.import_in(tx, kept)  # one stored already is skipped: a redone page is harmless
        return page.next_after, len(page.events)

    def count(self, location: Location, subject: str) -> int:
        """Return how many of the range's events `location`'s log holds (counted per stream by the store)."""
        with platform(), location.db.read() as tx:
            rows = tx.query("SELECT stream_id, COUNT(*) FROM eventlog_events GROUP BY stream_id")
        return sum(int(n) for stream, n in rows if self._holds(str(stream)))

    def digest(self, location: Location, subject: str, after: int = 0, upto: int | None = None) -> tuple[int, str]:
        """Return how many of the range's events have `after` < position <= `upto` and the SHA-256 over them."""
        tally = _Tally()
        while True:
            page = location.log.stored_page(after, PAGE)
            if not tally.add(page.events, upto, self._holds):
                return tally.result()
            after = page.next_after

    def delete(self, location: Location, subject: str) -> int:
        """Delete the range's events and snapshots in `location`, a few streams per short transaction."""
        with platform(), location.db.read() as tx:
            streams = [str(r[0]) for r in tx.query("SELECT DISTINCT stream_id FROM eventlog_events")]
        mine = [s for s in streams if self._holds(s)]
        deleted = 0
        for start in range(0, len(mine), DELETE_STREAMS):
            chunk = mine[start : start + DELETE_STREAMS]
            marks = ", ".join("?" for _ in chunk)
            with platform(), location.db.transaction() as tx:
                tx.execute(f"DELETE FROM eventlog_snapshots WHERE stream_id IN ({marks})", chunk)
            while True:  # a long stream's events go a page per transaction too
                with platform(), location.db.transaction() as tx:
                    gone = int(
                        tx.execute(
                            "DELETE FROM eventlog_events WHERE position IN (SELECT position FROM eventlog_events "
                            f"WHERE stream_id IN ({marks}) LIMIT {DELETE_PAGE})",
                            chunk,
                        ).rowcount
                    )
                deleted += gone
                if gone < DELETE_PAGE:
                    break
        return deleted

    def _holds(self, stream_id: str) -> bool:
        key = key_of_stream(stream_id)
        return key is not None and self._holds_key(key)
