"""Bitemporal arithmetic: valid periods, how an assertion reshapes a key's timeline, next changes. No I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from datastrata.core.clock import ensure_utc
from datastrata.core.errors import ValidationError

T = TypeVar("T")

#: Times are stored as fixed-width text on SQLite, which sorts correctly only for four-digit years.
EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open span of valid time ``[start, end)``; ``end=None`` means open-ended."""

    start: datetime
    end: datetime | None = None

    def contains(self, at: datetime) -> bool:
        """True when `at` falls inside the period."""
        return self.start <= at and (self.end is None or at < self.end)

    def overlaps(self, other: Period) -> bool:
        """True when the two periods share at least one instant."""
        return (other.end is None or self.start < other.end) and (self.end is None or other.start < self.end)

    def minus(self, other: Period) -> list[Period]:
        """Return the parts of this period outside `other` (zero, one or two periods, in order)."""
        if not self.overlaps(other):
            return [self]
        parts: list[Period] = []
        if self.start < other.start:
            parts.append(Period(self.start, other.start))
        if other.end is not None and (self.end is None or other.end < self.end):
            parts.append(Period(other.end, self.end))
        return parts

    def clip(self, other: Period) -> Period:
        """Return the overlap of two overlapping periods."""
        start = max(self.start, other.start)
        ends = [e for e in (self.end, other.end) if e is not None]
        return Period(start, min(ends) if ends else None)


def period(valid_from: datetime, valid_to: datetime | None) -> Period:
    """Return the valid period ``[valid_from, valid_to)``, refusing naive, inverted or out-of-range times."""
    start = _in_range(ensure_utc(valid_from, field="valid_from"), "valid_from")
    if valid_to is None:
        return Period(start)
    end = _in_range(ensure_utc(valid_to, field="valid_to"), "valid_to")
    if end <= start:
        raise ValidationError(
            f"valid_to ({end.isoformat()}) must be later than valid_from ({start.isoformat()}); "
            "swap them, or leave valid_to empty for an open-ended period",
            field="valid_to",
        )
    return Period(start, end)


def _in_range(value: datetime, field: str) -> datetime:
    if value < EARLIEST:
        raise ValidationError(
            f"{field} must be on or after {EARLIEST.date().isoformat()}; got {value.isoformat()}", field=field
        )
    return value


@dataclass(frozen=True, slots=True)
class Span(Generic[T]):
    """One piece of a key's timeline as currently known: a valid period and what holds in it."""

    period: Period
    item: T


@dataclass(frozen=True, slots=True)
class Plan(Generic[T]):
    """What an assertion over `period` does to a timeline: spans to close and remainders to re-record."""

    period: Period
    superseded: list[Span[T]]
    remainders: list[Span[T]]


def plan_assertion(timeline: Iterable[Span[T]], asserted: Period) -> Plan[T]:
    """Plan an assertion over `asserted`: every overlapping span is closed and its outside parts re-recorded."""
    superseded = sorted((s for s in timeline if s.period.overlaps(asserted)), key=lambda s: s.period.start)
    remainders = [Span(part, s.item) for s in superseded for part in s.period.minus(asserted)]
    return Plan(asserted, superseded, remainders)


def at(timeline: Iterable[Span[T]], when: datetime) -> Span[T] | None:
    """Return the span of `timeline` valid at `when`, or None."""
    for span in timeline:
        if span.period.contains(when):
            return span
    return None


def next_boundary(periods: Iterable[Period], after: datetime) -> datetime | None:
    """Return the earliest start or end of `periods` later than `after` (when the value may next change)."""
    boundaries = [t for p in periods for t in (p.start, p.end) if t is not None and t > after]
    return min(boundaries) if boundaries else None
