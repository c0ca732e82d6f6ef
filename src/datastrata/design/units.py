"""Quantities in a spec: data volumes, growth rates, operation frequencies."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from datastrata.design.spec_types import Frequency

#: Decimal units, as cloud providers bill them.
_VOLUME_UNITS: dict[str, Decimal] = {
    "B": Decimal("1e-9"),
    "KB": Decimal("1e-6"),
    "MB": Decimal("1e-3"),
    "GB": Decimal(1),
    "TB": Decimal(1000),
    "PB": Decimal(1000000),
    "EB": Decimal(1000000000),
}
_VOLUME = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTPE]?B)?\s*$", re.IGNORECASE)
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")

#: Frequency ranks, highest first in comparisons.
FREQUENCY_RANK: dict[Frequency, int] = {"very-high": 4, "high": 3, "medium": 2, "low": 1}

#: Nominal rate per second assumed for a frequency word when the spec gives no `rate_per_s`.
NOMINAL_RATE_PER_S: dict[Frequency, Decimal] = {
    "very-high": Decimal(2000),
    "high": Decimal(200),
    "medium": Decimal(20),
    "low": Decimal(1),
}

#: Analytical queries per day assumed for a frequency word (aggregations are not per-second traffic).
NOMINAL_ANALYTIC_QUERIES_PER_DAY: dict[Frequency, Decimal] = {
    "very-high": Decimal(10000),
    "high": Decimal(1000),
    "medium": Decimal(100),
    "low": Decimal(10),
}

#: Lower bound (per second) of each frequency band, used to name a given `rate_per_s`.
_RATE_BANDS: tuple[tuple[Decimal, Frequency], ...] = (
    (Decimal(1000), "very-high"),
    (Decimal(100), "high"),
    (Decimal(5), "medium"),
)


def parse_volume_gb(value: object) -> Decimal:
    """Parse '2TB', '500 GB' or a bare number of gigabytes into gigabytes."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a volume; write it like 500GB, 2TB or 1.5PB")
    if isinstance(value, int | float | Decimal):
        if value < 0:
            raise ValueError("a volume cannot be negative")
        return Decimal(str(value))
    if isinstance(value, str):
        match = _VOLUME.match(value)
        if match:
            return Decimal(match.group(1)) * _VOLUME_UNITS[(match.group(2) or "GB").upper()]
    raise ValueError(f"{value!r} is not a volume; write it like 500GB, 2TB or 1.5PB")


def parse_fraction(value: object) -> Decimal:
    """Parse '50%' or 0.5 into the fraction 0.5."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a growth rate; write it like 50% or 0.5")
    if isinstance(value, int | float | Decimal):
        if value < 0:
            raise ValueError("a growth rate cannot be negative")
        return Decimal(str(value))
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if match:
            return Decimal(match.group(1)) / 100
        try:
            fraction = Decimal(value.strip())
        except InvalidOperation:
            pass
        else:
            if fraction >= 0:
                return fraction
    raise ValueError(f"{value!r} is not a growth rate; write it like 50% or 0.5")


def frequency_of_rate(rate_per_s: Decimal) -> Frequency:
    """Name the frequency band a rate per second falls in."""
    for lower, name in _RATE_BANDS:
        if rate_per_s >= lower:
            return name
    return "low"


def format_volume(gb: Decimal) -> str:
    """Render gigabytes with the largest unit that keeps the number at least 1."""
    for unit in ("PB", "TB", "GB", "MB"):
        size = _VOLUME_UNITS[unit]
        if gb >= size:
            return f"{_trim(gb / size)} {unit}"
    return f"{_trim(gb * 1000)} MB" if gb > 0 else "0 GB"


def format_percent(fraction: Decimal) -> str:
    """Render a fraction as a percentage."""
    return f"{_trim(fraction * 100)}%"


def _trim(value: Decimal) -> str:
    rounded = value.quantize(Decimal("0.01"))
    text = format(rounded, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
