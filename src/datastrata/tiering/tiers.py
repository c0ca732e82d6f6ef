"""The tiers, in order from hottest to gone, and the kinds of data a policy places."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum

from datastrata.core.errors import ValidationError


class Tier(StrEnum):
    """Where a piece of data lives: hot and warm are online stores, cold is object storage, frozen an archive."""

    HOT = "hot"
    WARM = "warm"
    COLD = "cold"
    FROZEN = "frozen"
    EXPIRED = "expired"

    @property
    def rank(self) -> int:
        """0 for hot up to 4 for expired: data only ever moves to a higher rank."""
        return _ORDER.index(self)

    @property
    def online(self) -> bool:
        """True where a query reads without a restore (hot, warm, cold)."""
        return self in (Tier.HOT, Tier.WARM, Tier.COLD)


_ORDER = [Tier.HOT, Tier.WARM, Tier.COLD, Tier.FROZEN, Tier.EXPIRED]
TIER_NAMES = [t.value for t in _ORDER]


class Kind(StrEnum):
    """The kinds of data a policy places: rows of a table, objects under a prefix, closed streams of the event log."""

    ROWS = "rows"
    OBJECTS = "objects"
    SEGMENTS = "segments"


KIND_NAMES = [k.value for k in Kind]

_AGE = re.compile(r"^([0-9]{1,6})(m|h|d|w|y)$")
_UNIT = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
#: A year in a policy is 365 days (ages are durations, not calendar dates).
YEAR = timedelta(days=365)


def parse_age(value: object, *, field: str) -> timedelta:
    """Parse an age such as ``90m``, ``12h``, ``30d``, ``2w`` or ``7y`` (a year is 365 days)."""
    text = value if isinstance(value, str) else None
    match = _AGE.match(text.strip()) if text is not None else None
    if match is None:
        raise ValidationError(
            f"{field} must be an age such as 90m, 12h, 30d, 2w or 7y (a number, then m, h, d, w or y); got {value!r}",
            field=field,
        )
    number, unit = int(match.group(1)), match.group(2)
    return number * (YEAR if unit == "y" else _UNIT[unit])


def show_age(age: timedelta) -> str:
    """Render an age the way a policy writes it (the largest whole unit)."""
    seconds = int(age.total_seconds())
    for unit, size in (("y", YEAR), ("w", _UNIT["w"]), ("d", _UNIT["d"]), ("h", _UNIT["h"])):
        step = int(size.total_seconds())
        if seconds and seconds % step == 0:
            return f"{seconds // step}{unit}"
    return f"{seconds // 60}m"
