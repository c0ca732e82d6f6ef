"""Lanes over time: one lane per subject, its states as coloured spans from each change to the next (or to now)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from markupsafe import Markup

from datastrata.console.charts.canvas import PALETTE, Canvas

LANE = 24
LABEL_WIDTH = 170
AXIS = 22
LEGEND = 22


def lanes(
    rows: Sequence[tuple[str, Sequence[tuple[datetime, str]]]], *, until: datetime, label: str, width: int = 760
) -> Markup:
    """A lane per ``(name, changes)``: each change ``(at, state)`` colours its lane from `at` to the next, or `until`.

    States get the palette's colours in order of first appearance, named in a legend under the lanes.
    """
    changes = [at for _, points in rows for at, _ in points]
    height = max(1, len(rows)) * LANE + AXIS + LEGEND + 8
    canvas = Canvas(width, height, label=label)
    if not changes:
        canvas.text(width / 2, LANE * 0.7, "nothing to show yet", anchor="middle")
        return canvas.render()
    start, end = min(changes), max(until, *changes)
    span = (end - start).total_seconds() or 1.0
    plot = width - LABEL_WIDTH - 10

    def x(at: datetime) -> float:
        return LABEL_WIDTH + plot * (at - start).total_seconds() / span

    colours: dict[str, str] = {}
    for index, (name, points) in enumerate(rows):
        y = 4 + index * LANE
        canvas.text(LABEL_WIDTH - 6, y + LANE * 0.65, name, anchor="end")
        ordered = sorted(points)
        for i, (at, state) in enumerate(ordered):
            stop = ordered[i + 1][0] if i + 1 < len(ordered) else end
            fill = colours.setdefault(state, PALETTE[len(colours) % len(PALETTE)])
            title = f"{name}: {state} from {at:%Y-%m-%d %H:%M} to {stop:%Y-%m-%d %H:%M}"
            canvas.rect(x(at), y + 3, max(x(stop) - x(at), 6), LANE - 6, fill=fill, title=title)
    axis = 4 + len(rows) * LANE
    canvas.line(LABEL_WIDTH, axis, width - 10, axis)
    shown = "%Y-%m-%d" if span > 2 * 86400 else "%Y-%m-%d %H:%M"
    canvas.text(LABEL_WIDTH, axis + 14, f"{start:{shown}}")
    canvas.text(width - 10, axis + 14, f"{end:{shown}}", anchor="end")
    legend_x = LABEL_WIDTH
    for state, fill in colours.items():
        canvas.rect(legend_x, axis + AXIS + 2, 12, 12, fill=fill)
        canvas.text(legend_x + 16, axis + AXIS + 12, state)
        legend_x += 24 + 7 * len(state)
    return canvas.render()
