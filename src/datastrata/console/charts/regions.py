"""Two regions and the link between them: each region a box with its figures, the link up (solid) or cut (broken)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from datastrata.console.charts.canvas import PALETTE, Canvas

BOX_WIDTH = 220
LINE = 18


def regions(
    left: tuple[str, Sequence[str]],
    right: tuple[str, Sequence[str]],
    *,
    link: str,
    cut: bool,
    label: str,
    width: int = 760,
) -> Markup:
    """Draw region `left` and `right` (a name and its lines of figures), joined by `link` (broken when `cut`)."""
    rows = max(len(left[1]), len(right[1]), 1)
    height = 44 + rows * LINE + 16
    canvas = Canvas(width, height, label=label)
    for x, (name, lines) in ((8, left), (width - BOX_WIDTH - 8, right)):
        canvas.rect(x, 8, BOX_WIDTH, height - 16, fill="#ffffff", stroke="#9aa3b5", rx=8, class_="region")
        canvas.text(x + 12, 30, name, font_weight="600")
        for index, line in enumerate(lines):
            canvas.text(x + 12, 52 + index * LINE, line, font_size=12)
    y = height / 2
    start, end = 8 + BOX_WIDTH, width - BOX_WIDTH - 8
    if cut:
        middle = (start + end) / 2
        canvas.line(start, y, middle - 16, y, stroke=PALETTE[5], stroke_width=3, stroke_dasharray="6 4")
        canvas.line(middle + 16, y, end, y, stroke=PALETTE[5], stroke_width=3, stroke_dasharray="6 4")
        canvas.text(middle, y + 5, "✕", anchor="middle", fill=PALETTE[5], font_size=18, class_="cut")
    else:
        canvas.line(start, y, end, y, stroke=PALETTE[2], stroke_width=3, class_="up")
    canvas.text((start + end) / 2, y - 10, link, anchor="middle", font_size=12)
    return canvas.render()
