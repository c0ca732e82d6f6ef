"""Saga timelines: one lane per step (or service), a bar per call on a shared time axis, compensations beside them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from datastrata.console.charts.canvas import PALETTE, Canvas

LANE = 30
LABEL_WIDTH = 130
AXIS = 26
#: Room right of the axis (its last tick's label).
RIGHT = 36
#: The narrowest bar drawn (an event, or a call quicker than a pixel, stays visible).
MIN_BAR = 4.0
#: Colours by what a mark is: a step's action, its compensation, a call that did not succeed, an event.
COLOURS = {"action": PALETTE[0], "compensation": PALETTE[1], "failed": PALETTE[5], "event": PALETTE[2]}


@dataclass(frozen=True, slots=True)
class Mark:
    """One call or event: its lane, when it started and how long it took (ms since the saga began), its kind."""

    lane: str
    start_ms: float
    duration_ms: float
    kind: str
    title: str


def saga_timeline(lanes: Sequence[str], marks: Sequence[Mark], *, label: str, width: int = 760) -> Markup:
    """Draw `marks` in `lanes` (top to bottom) against time since the start; kinds as in :data:`COLOURS`."""
    height = max(1, len(lanes)) * LANE + AXIS + 8
    canvas = Canvas(width, height, label=label)
    span = width - LABEL_WIDTH - RIGHT
    end = max((m.start_ms + m.duration_ms for m in marks), default=0.0) or 1.0
    row = {name: index for index, name in enumerate(lanes)}
    for index, name in enumerate(lanes):
        y = 4 + index * LANE
        canvas.text(LABEL_WIDTH - 8, y + LANE * 0.62, name, anchor="end")
        canvas.line(LABEL_WIDTH, y + LANE, width - RIGHT, y + LANE, stroke="#eef1f7")
    for mark in marks:
        y = 4 + row.get(mark.lane, 0) * LANE
        x = LABEL_WIDTH + span * mark.start_ms / end
        bar = max(MIN_BAR, span * mark.duration_ms / end)
        offset = 0.0 if mark.kind != "compensation" else LANE * 0.4  # an undo sits under its action, same lane
        canvas.rect(
            min(x, width - RIGHT - bar),
            y + 5 + offset,
            bar,
            LANE * 0.4 - 2,
            fill=COLOURS.get(mark.kind, PALETTE[7]),
            title=mark.title,
            class_=f"mark {mark.kind}",
        )
    base = 4 + len(lanes) * LANE
    canvas.line(LABEL_WIDTH, base, width - RIGHT, base)
    for tick in range(5):
        value = end * tick / 4
        x = LABEL_WIDTH + span * tick / 4
        canvas.line(x, base, x, base + 4)
        canvas.text(x, base + 17, f"{value:.0f} ms" if end >= 10 else f"{value:.1f} ms", anchor="middle")
    if not marks:
        canvas.text(width / 2, LANE * 0.7, "no calls yet", anchor="middle")
    return canvas.render()
