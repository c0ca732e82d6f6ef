"""Step progress: a long operation's steps in order, those done filled, the current one marked, the rest empty."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from datastrata.console.charts.canvas import PALETTE, Canvas

HEIGHT = 46
DONE, CURRENT, AHEAD, FAILED = PALETTE[2], PALETTE[0], "#e4e7ee", PALETTE[5]


def steps(
    names: Sequence[str],
    current: str | None,
    *,
    label: str,
    finished: bool = False,
    failed: bool = False,
    width: int = 720,
) -> Markup:
    """One box per step of `names`: before `current` done, `current` running (or failed), after it to do.

    `finished`: every step is done (the operation completed). A `current` not among `names` marks none.
    """
    canvas = Canvas(width, HEIGHT, label=label)
    count = max(1, len(names))
    box = width / count
    at = names.index(current) if current in names else -1
    for index, name in enumerate(names):
        if finished or index < at:
            fill, state = DONE, "done"
        elif index == at:
            fill, state = (FAILED, "failed") if failed else (CURRENT, "running")
        else:
            fill, state = AHEAD, "to do"
        canvas.rect(index * box + 1, 4, box - 2, 16, fill=fill, title=f"{name}: {state}", class_=f"step {state}")
        canvas.text(index * box + box / 2, 36, name, anchor="middle")
    return canvas.render()


def fraction(position: int, goal: int, *, label: str, unit: str = "", width: int = 720) -> Markup:
    """A bar filled to `position` of `goal` (rows copied of rows planned), the figures (and `unit`) written on it."""
    canvas = Canvas(width, 24, label=label)
    share = 0.0 if goal <= 0 else min(1.0, max(0.0, position / goal))
    canvas.rect(0, 2, width, 20, fill=AHEAD)
    canvas.rect(0, 2, width * share, 20, fill=DONE, title=f"{position} of {goal}")
    canvas.text(width / 2, 16, f"{position}{unit} of {goal}{unit} ({share:.0%})", anchor="middle")
    return canvas.render()
