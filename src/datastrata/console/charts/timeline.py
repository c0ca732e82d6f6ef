"""Event timelines: one dot per event in time order, coloured by kind, with an optional "now showing" marker.

Events are spaced evenly in their order (a gap of a year between two events would otherwise squeeze the rest into a
point); each dot is labelled with its time, and a marker between two events sits where its time falls between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup

from datastrata.console.charts.canvas import PALETTE, Canvas

SIDE = 60
AXIS_Y = 46
#: Colour of events past the marker (the future of the moment shown).
FADED = "#c9cfdb"
#: Colour of the marker.
MARKER = "#b42318"
#: Fewest user units between two time labels under the axis.
LABEL_GAP = 120


@dataclass(frozen=True, slots=True)
class Moment:
    """One event on the timeline: when, its kind (one colour per kind), and its hover text."""

    at: datetime
    kind: str
    text: str


def timeline(moments: Sequence[Moment], *, label: str, marker: datetime | None = None, width: int = 1100) -> Markup:
    """Draw `moments` (in time order) left to right; events after `marker` are faded and a line marks it."""
    canvas = Canvas(width, 100, label=label)
    if not moments:
        canvas.text(width / 2, AXIS_Y, "no events yet", anchor="middle")
        return canvas.render()
    ordered = sorted(moments, key=lambda m: m.at)
    gap = (width - 2 * SIDE) / max(1, len(ordered) - 1)

    def x(index: float) -> float:
        return SIDE + gap * index if len(ordered) > 1 else width / 2

    kinds = list(dict.fromkeys(m.kind for m in ordered))
    canvas.line(SIDE / 2, AXIS_Y, width - SIDE / 2, AXIS_Y)
    last_label = -float("inf")
    for index, moment in enumerate(ordered):
        past = marker is None or moment.at <= marker
        colour = PALETTE[kinds.index(moment.kind) % len(PALETTE)] if past else FADED
        canvas.circle(x(index), AXIS_Y, 6, fill=colour, title=f"{moment.at.isoformat()} · {moment.text}")
        if x(index) - last_label >= LABEL_GAP or (index == len(ordered) - 1 and x(index) - last_label >= 60):
            canvas.text(x(index), AXIS_Y + 22, _short(moment.at), anchor="middle")
            last_label = x(index)
    if marker is not None:
        where = min(max(x(_rank(ordered, marker)), SIDE / 4), width - SIDE / 4)
        canvas.line(where, AXIS_Y - 22, where, AXIS_Y + 10, stroke=MARKER, stroke_width=2)
        anchor = "start" if where < width * 0.2 else "end" if where > width * 0.8 else "middle"
        canvas.text(where, AXIS_Y - 26, f"shown: {_short(marker)}", anchor=anchor, class_="marker")
    legend_x = float(SIDE / 2)
    for index, kind in enumerate(kinds):
        canvas.circle(legend_x + 5, 88, 4, fill=PALETTE[index % len(PALETTE)])
        canvas.text(legend_x + 13, 92, kind)
        legend_x += 28 + 7 * len(kind)
    return canvas.render()


def _rank(ordered: Sequence[Moment], at: datetime) -> float:
    """Where `at` falls among the events: an index, fractional between two events, half a step off either end."""
    if at < ordered[0].at:
        return -0.5
    if at >= ordered[-1].at:
        return float(len(ordered) - 1) + (0.5 if at > ordered[-1].at else 0.0)
    for index in range(len(ordered) - 1):
        before, after = ordered[index].at, ordered[index + 1].at
        if before <= at < after:
            return index + (at - before) / (after - before)
    raise AssertionError("unreachable: the marker lies within the events")  # pragma: no cover


def _short(at: datetime) -> str:
    """A time to the minute, in UTC."""
    return at.strftime("%Y-%m-%d %H:%M")
