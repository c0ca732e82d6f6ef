"""A move's events: one tenant's log paged at the source and re-appended at the target (same ids and versions).

The event log's tenant-keyed API does the work (``EventLog.tenant_page``, ``import_in``, ``tenant_count``,
``delete_tenant_in``); this adapter gives the move workflow (:class:`datastrata.runtime.moves.EventsPart`) its
four operations. Payloads travel as stored, sealed personal fields included, so the digests of both ends agree.

The events of the tenant's archived (closed) streams are re-appended too, read back from their segments and merged
into the pages in source order; :mod:`datastrata.runtime.movearchive` archives them again at the target once its
followers have read them. ``count`` and ``digest`` compare the online log (archived streams compare apart).
"""

from __future__ import annotations

import hashlib

import orjson

from datastrata.core.events import Event
from datastrata.eventlog import archive
from datastrata.runtime.location import Location

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

    def digest(self, location: Location, subject: str, after: int = 0, upto: int | None = None) -> str:
        """Return the SHA-256 over `subject`'s events with `after` < position <= `upto`, in their order."""
        sha = hashlib.sha256()
        while True:
            page = location.log.tenant_page(subject, after, PAGE)
            for event in page.events:
                if upto is not None and event.position > upto:
                    return sha.hexdigest()
                sha.update(_canonical(event))
            if not page.events:
                return sha.hexdigest()
            after = page.next_after

    def delete(self, location: Location, subject: str) -> int:
        """Delete `subject`'s events in `location` (a completed move's source, a reversed move's target)."""
        with location.db.transaction() as tx:
            return location.log.delete_tenant_in(tx, subject)


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
