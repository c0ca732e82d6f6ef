"""Clocks: the system clock and a frozen clock tests can move by hand."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current aware UTC time."""

    def __call__(self) -> datetime:
        """Return the current time."""


def system_clock() -> datetime:
    """Return the current time from the operating system, in UTC."""
    return datetime.now(UTC)


class FrozenClock:
    """A clock that stands still until told to move; thread-safe."""

    def __init__(self, at: datetime) -> None:
        self._now = ensure_utc(at, field="at")
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        """Return the frozen time."""
        with self._lock:
            return self._now

    def set(self, at: datetime) -> None:
        """Move the clock to `at`."""
        with self._lock:
            self._now = ensure_utc(at, field="at")

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by `delta` and return the new time."""
        with self._lock:
            self._now += delta
            return self._now


def ensure_utc(value: datetime, *, field: str) -> datetime:
    """Return `value` in UTC, refusing naive datetimes."""
    from datastrata.core.errors import ValidationError

    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValidationError(
            f"{field} must be timezone-aware, e.g. 2025-09-12T10:00:00Z; got {value.isoformat()}", field=field
        )
    return value.astimezone(UTC)


def optional_utc(value: datetime | None, *, field: str) -> datetime | None:
    """Return `value` in UTC (see :func:`ensure_utc`), or None when it is None."""
    return None if value is None else ensure_utc(value, field=field)


def parse_time(text: str, *, field: str) -> datetime:
    """Parse an ISO-8601 time with an offset (or Z) into aware UTC."""
    from datastrata.core.errors import ValidationError

    try:
        parsed = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise ValidationError(
            f"{field} must be an ISO-8601 time such as 2025-09-12T10:00:00Z; got {text!r}", field=field
        ) from None
    return ensure_utc(parsed, field=field)


#: How far ahead of the clock a business time may lie, in seconds (clock skew between a client and the server).
MAX_FUTURE_ENV = "DATASTRATA_MAX_FUTURE_SECONDS"
DEFAULT_MAX_FUTURE = 300


def max_future() -> timedelta:
    """The configured tolerance for business times ahead of now (``DATASTRATA_MAX_FUTURE_SECONDS``, default 300)."""
    from datastrata.core.errors import ConfigurationError

    text = os.environ.get(MAX_FUTURE_ENV, "").strip()
    if not text:
        return timedelta(seconds=DEFAULT_MAX_FUTURE)
    if not text.isascii() or not text.isdigit() or int(text) > 366 * 86400:
        raise ConfigurationError(
            f"{MAX_FUTURE_ENV}={text!r}: give a whole number of seconds from 0 to {366 * 86400}, e.g. 300"
        )
    return timedelta(seconds=int(text))


def refuse_future(at: datetime, now: datetime, *, field: str = "at") -> None:
    """Refuse a business time more than :func:`max_future` ahead of `now` (it would block every later command)."""
    from datastrata.core.errors import ValidationError

    tolerance = max_future()
    if at > now + tolerance:
        raise ValidationError(
            f"{field} (--at): {at.isoformat()} is in the future (now {now.isoformat()}); a business time may be at "
            f"most {int(tolerance.total_seconds())} s ahead of the clock ({MAX_FUTURE_ENV} sets the tolerance); "
            "give a past or present time, or leave it out for now",
            field=field,
        )
