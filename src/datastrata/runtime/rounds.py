"""Running rounds of work until none is left: what a CLI command or a test does where no worker runs."""

from __future__ import annotations

from collections.abc import Callable


def settle(run_once: Callable[[], int], *, max_rounds: int) -> int:
    """Call `run_once` until a round does nothing (or `max_rounds` are run); the work done in all."""
    done = 0
    for _ in range(max_rounds):
        work = run_once()
        if not work:
            break
        done += work
    return done
