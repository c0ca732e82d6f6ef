"""One retry rule for every command path: a lost optimistic race is retried with jittered, capped backoff.

Retrying at once makes the losers of a race collide again (on PostgreSQL 29 of 900 concurrent deposits to one
portfolio still lost after five immediate retries); "full jitter" spreads them so each retry is likely to win.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from datastrata.core.errors import ConcurrencyConflict

T = TypeVar("T")

#: Attempts in all (the first try included) before a conflict reaches the caller.
ATTEMPTS = 25
#: First backoff ceiling and the cap, in seconds.
BASE_DELAY = 0.005
MAX_DELAY = 0.5


def backoff(attempt: int, *, base: float = BASE_DELAY, cap: float = MAX_DELAY) -> float:
    """Return the full-jitter delay before retry number `attempt` (0-based): uniform in [0, min(cap, base*2^n)]."""
    return random.uniform(0, min(cap, base * (2 ** min(attempt, 30))))


def retry_conflicts(
    run: Callable[[], T],
    *,
    attempts: int = ATTEMPTS,
    conflict: Callable[[Exception], ConcurrencyConflict | None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `run` until it does not raise a concurrency conflict, sleeping a jittered backoff between tries.

    `conflict` maps another exception to a conflict to retry (e.g. a unique-key race), or None to re-raise it.
    """
    for attempt in range(attempts):
        try:
            return run()
        except ConcurrencyConflict:
            if attempt == attempts - 1:
                raise
        except Exception as exc:
            mapped = conflict(exc) if conflict is not None else None
            if mapped is None:
                raise
            if attempt == attempts - 1:
                raise mapped from None
        sleep(backoff(attempt))
    raise AssertionError("unreachable")
