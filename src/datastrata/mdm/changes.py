"""Planning a master-data change: what a put or retire writes, decided from the key's current timeline alone.

:func:`plan_change` is pure (no store): given the open versions of a key, its latest recorded time and the clock,
it returns the versions to close, the rows to insert, the new current row, the event payload and the audit entry.
The store persists a plan in one transaction (:meth:`~datastrata.mdm.store.MasterDataStore.put`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from datastrata.core.errors import NotFound
from datastrata.core.ids import new_id
from datastrata.mdm.records import iso
from datastrata.mdm.sql import AuditRow, Key, VersionRow
from datastrata.mdm.temporal import Period, Span, at, next_boundary, plan_assertion


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    """A put (attributes in JSON form) or a retire (`after` None) of one key over the asserted valid period."""

    key: Key
    action: str
    after: dict[str, Any] | None
    asserted: Period
    actor: str
    reason: str
    change_id: str


@dataclass(frozen=True, slots=True)
class ChangePlan:
    """Everything a change writes: versions closed and inserted, the current row, its event and audit entry."""

    request: ChangeRequest
    now: datetime
    close: tuple[str, ...]
    versions: tuple[VersionRow, ...]
    new: VersionRow
    current: VersionRow | None
    payload: dict[str, Any]
    audit: AuditRow
    in_effect: bool
    next_change_at: datetime | None

    def audit_at(self, position: int) -> AuditRow:
        """Return the audit entry with the log position its event got."""
        return replace(self.audit, position=position)


def plan_change(
    request: ChangeRequest,
    timeline: Sequence[VersionRow],
    latest_recorded: datetime | None,
    clock_now: datetime,
    *,
    ids: Callable[[], str] = new_id,
) -> ChangePlan:
    """Plan `request` against the key's open versions; refuse a retire where no version is valid."""
    key, asserted = request.key, request.asserted
    now = clock_now if latest_recorded is None else max(clock_now, latest_recorded)
    spans = [Span(valid_period(v), v) for v in timeline]
    plan = plan_assertion(spans, asserted)
    if request.action == "retire" and all(s.item.retired for s in plan.superseded):
        raise NotFound(
            f"{key.entity_type} {key.entity_key!r} has no version valid in [{iso(asserted.start)}, "
            f"{iso(asserted.end) or 'open end'}) to retire; check the key and the period"
        )
    remainders = [
        s.item.with_changes(
            version_id=ids(),
            valid_from=s.period.start,
            valid_to=s.period.end,
            recorded_from=now,
            recorded_to=None,
            change_id=request.change_id,
            derived_from=s.item.version_id,
            activated_at=s.item.activated_at if s.period.start <= now else None,
        )
        for s in plan.remainders
    ]
    new = VersionRow(
        version_id=ids(),
        key=key,
        attributes=request.after,
        valid_from=asserted.start,
        valid_to=asserted.end,
        recorded_from=now,
        recorded_to=None,
        actor=request.actor,
        reason=request.reason,
        change_id=request.change_id,
        derived_from=None,
        activated_at=now if asserted.start <= now else None,
    )
    untouched = [s.item for s in spans if not s.period.overlaps(asserted)]
    after_timeline = [*untouched, *remainders, new]
    previous = at(spans, asserted.start)
    before = None if previous is None else previous.item.attributes
    replaced = [segment(s.item, s.period.clip(asserted)) for s in plan.superseded]
    in_effect = asserted.contains(now)
    payload = {
        "entity_type": key.entity_type,
        "entity_key": key.entity_key,
        "action": request.action,
        "version_id": new.version_id,
        "before": before,
        "after": request.after,
        "replaced": replaced,
        "valid_from": iso(asserted.start),
        "valid_to": iso(asserted.end),
        "recorded_at": iso(now),
        "in_effect": in_effect,
        "actor": request.actor,
        "reason": request.reason,
    }
    audit = AuditRow(
        change_id=request.change_id,
        entity_type=key.entity_type,
        entity_key=key.entity_key,
        action=request.action,
        actor=request.actor,
        reason=request.reason,
        before=before,
        after=request.after,
        replaced=replaced,
        valid_from=asserted.start,
        valid_to=asserted.end,
        recorded_at=now,
        version_id=new.version_id,
        position=0,
    )
    return ChangePlan(
        request=request,
        now=now,
        close=tuple(s.item.version_id for s in plan.superseded),
        versions=(*remainders, new),
        new=new,
        current=valid_at(after_timeline, now),
        payload=payload,
        audit=audit,
        in_effect=in_effect,
        next_change_at=next_boundary((valid_period(v) for v in after_timeline), now),
    )


def valid_period(row: VersionRow) -> Period:
    """Return the valid period of a stored version."""
    return Period(row.valid_from, row.valid_to)


def valid_at(rows: Iterable[VersionRow], when: datetime) -> VersionRow | None:
    """Return the row valid at `when` (a retirement counts: the key is then absent)."""
    for row in rows:
        if valid_period(row).contains(when):
            return row
    return None


def segment(row: VersionRow, clipped: Period) -> dict[str, Any]:
    """Return the part of `row` a change replaced, as the event and audit entry record it."""
    return {
        "version_id": row.version_id,
        "valid_from": iso(clipped.start),
        "valid_to": iso(clipped.end),
        "attributes": row.attributes,
    }
