"""Horizontal bar charts: one bar per label, scaled to the largest value, the value written beside it."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from datastrata.console.charts.canvas import PALETTE, Canvas

ROW = 22
LABEL_WIDTH = 150
VALUE_WIDTH = 90


def bars(rows: Sequence[tuple[str, float]], *, label: str, width: int = 560, unit: str = "") -> Markup:
    """A bar per ``(label, value)`` row (values ≥ 0), longest for the largest; `unit` follows each value."""
    canvas = Canvas(width, max(1, len(rows)) * ROW + 8, label=label)
    largest = max((value for _, value in rows), default=0.0) or 1.0
    span = width - LABEL_WIDTH - VALUE_WIDTH
    for index, (name, value) in enumerate(rows):
        y = 4 + index * ROW
        canvas.text(LABEL_WIDTH - 6, y + ROW * 0.65, name, anchor="end")
        canvas.rect(
            LABEL_WIDTH,
            y + 3,
            span * max(value, 0.0) / largest,
            ROW - 6,
            fill=PALETTE[0],
            title=f"{name}: {value:g}{unit}",
        )
        canvas.text(LABEL_WIDTH + span * max(value, 0.0) / largest + 6, y + ROW * 0.65, f"{value:g}{unit}")
    if not rows:
        canvas.text(width / 2, ROW * 0.7, "nothing to show yet", anchor="middle")
    return canvas.render()
