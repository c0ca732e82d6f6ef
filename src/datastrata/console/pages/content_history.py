"""What the content page reads of a studio: its items' storage classes over time, from their events and the lifecycle.

An item's class starts where its upload placed it (``ContentUploaded``), changes when it goes viral (premium), when
its stage changes (an archived item's footage starts in STANDARD; a published one in its placement's class), and at
every move of the storage lifecycle (the tiering audit of the studio's location, its footage keys named there, and of
the home location, where the audit of its time on the shared model stays after a move).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from datastrata.core.errors import NotFound
from datastrata.core.events import Event
from datastrata.systems.content.domain import PLACEMENTS
from datastrata.systems.content.keys import footage_owner
from datastrata.systems.content.service import ContentService, Item
from datastrata.tiering.moves import MoveRecord, read_records
from datastrata.tiering.policy import Policy
from datastrata.tiering.tiers import Tier

#: A class change: when, and the class from then on.
Change = tuple[datetime, str]
#: How an item's lane reads when its footage has expired from the archive.
EXPIRED = "expired"


def object_classes(svc: ContentService, items: Sequence[Item]) -> dict[str, str]:
    """Each item's footage class in the object store now (``expired`` when the archive has let it go)."""
    objects = svc.objects(svc.scope())
    found = {}
    for item in items:
        try:
            found[item.item_id] = objects.info(item.object_key).storage_class
        except NotFound:
            found[item.item_id] = EXPIRED
    return found


def storage_history(svc: ContentService, studio: str, items: Sequence[Item]) -> list[tuple[str, list[Change]]]:
    """Each item's storage-class changes, oldest first (the current studio's items, read in its location)."""
    location = svc.runtime.locate(svc.scope())
    moves: dict[str, list[MoveRecord]] = {}
    seen: set[str] = set()
    for place in {location.name: location, svc.runtime.home.name: svc.runtime.home}.values():  # moved: home kept it
        for record in read_records(place.db):
            owner = footage_owner(record.item)
            if owner is not None and owner[0] == studio and record.id not in seen:
                seen.add(record.id)
                moves.setdefault(owner[1], []).append(record)
    found = []
    for item in items:
        events = location.log.read(svc.scope(item.item_id).stream_id)
        found.append((item.item_id, _changes(events, moves.get(item.item_id, []), svc.lifecycle.policies)))
    return found


def _changes(events: Sequence[Event], moves: Sequence[MoveRecord], policies: Sequence[Policy]) -> list[Change]:
    changes: list[Change] = []
    placement = "basic"
    for event in events:
        payload = event.payload
        if event.type == "ContentUploaded":
            placement = str(payload.get("placement", placement))
            changes.append((event.recorded_at, str(payload["storage_class"])))
        elif event.type == "ContentWentViral":
            placement = str(payload.get("placement", placement))
            changes.append((event.recorded_at, PLACEMENTS[placement].storage_class))
        elif event.type == "ContentArchived":
            changes.append((event.recorded_at, "STANDARD"))
        elif event.type in ("ContentPublished", "ContentRepublished"):
            changes.append((event.recorded_at, PLACEMENTS[placement].storage_class))
    for move in moves:
        changes.append((move.moved_at, _class_of(policies, move)))
    return _collapsed(sorted(changes))


def _class_of(policies: Sequence[Policy], move: MoveRecord) -> str:
    """The storage class a lifecycle move put the footage in (its dataset's policy names it)."""
    if move.to_tier == Tier.EXPIRED.value:
        return EXPIRED
    for policy in policies:
        if move.dataset in policy.datasets:
            return policy.storage_class(Tier(move.to_tier))
    return move.to_tier


def _collapsed(changes: Sequence[Change]) -> list[Change]:
    """Drop the changes that leave the class as it was (a publish in the class the upload chose)."""
    kept: list[Change] = []
    for at, cls in changes:
        if not kept or kept[-1][1] != cls:
            kept.append((at, cls))
    return kept
