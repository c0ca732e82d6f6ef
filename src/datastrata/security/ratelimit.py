"""A token bucket per key, in process: a steady rate with a burst, so one client cannot starve the rest."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from datastrata.core.errors import ConfigurationError

#: Requests per second each key may sustain by default.
DEFAULT_RATE = 100.0
#: Requests each key may send at once (the bucket's size) by default.
DEFAULT_BURST = 200


class RateLimiter:
    """Token buckets keyed by a caller id: each holds up to `burst` tokens and refills at `rate` per second."""

    def __init__(
        self, rate: float = DEFAULT_RATE, burst: int = DEFAULT_BURST, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not rate > 0 or not math.isfinite(rate):
            raise ConfigurationError(f"rate limit must be a positive number of requests per second; got {rate!r}")
        if burst < 1:
            raise ConfigurationError(f"burst must be at least 1 request; got {burst!r}")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, when counted)
        self._lock = threading.Lock()

    def take(self, caller: str, *, rate: float | None = None, burst: int | None = None) -> float:
        """Take one token for `caller`; return 0 when allowed, else the seconds until a token is there.

        `rate` and `burst` override the limiter's own for this caller (a tenant's tier).
        """
        rate = self.rate if rate is None else rate
        size = float(self.burst if burst is None else burst)
        with self._lock:
            now = self.clock()
            tokens, then = self._buckets.get(caller, (size, now))
            tokens = min(size, tokens + (now - then) * rate)
            if tokens >= 1:
                self._buckets[caller] = (tokens - 1, now)
                return 0.0
            self._buckets[caller] = (tokens, now)
            return (1 - tokens) / rate
