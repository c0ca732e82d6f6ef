"""The fab's rules, pure: sensors and their kinds, alert limits, bounded readings, and threshold crossings."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import yaml

from datastrata.core.clock import ensure_utc
from datastrata.core.errors import ValidationError
from datastrata.core.validation import bounded_float

#: The kinds of sensor on the fab floor (the article: temperature, pressure, vibration).
KINDS = ("temperature", "pressure", "vibration")
#: The most readings one batch may carry (a batch is one transaction).
MAX_BATCH = 50_000
#: The most sensors one registration may carry.
MAX_REGISTER = 10_000
#: How late a reading may arrive (gateways store and forward); later ones are refused.
LATE = timedelta(minutes=15)
#: How far ahead of the runtime's clock a reading's time may be (clock skew between gateway and server).
AHEAD = timedelta(minutes=1)
#: Values beyond this magnitude are refused as sensor faults, whatever the kind.
MAX_VALUE = 1e9
_SENSOR = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Limit:
    """The alert limits of one sensor kind: a reading above `high` or below `low` is over its threshold."""

    kind: str
    unit: str
    low: float | None
    high: float | None

    def breach(self, value: float) -> tuple[str, float] | None:
        """Which bound `value` crosses (``high``/``low``) and that bound's limit, or None within limits."""
        if self.high is not None and value > self.high:
            return "high", self.high
        if self.low is not None and value < self.low:
            return "low", self.low
        return None


@dataclass(frozen=True, slots=True)
class Reading:
    """One sensor reading: which sensor, when (aware UTC, millisecond resolution or finer) and its value."""

    sensor_id: str
    at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class Crossing:
    """A reading that took its sensor over a threshold (the first of a run of readings over it)."""

    sensor_id: str
    kind: str
    at: datetime
    value: float
    bound: str
    limit: float

    def payload(self, batch_id: str) -> dict[str, Any]:
        """The alert event's payload."""
        return {
            "sensor_id": self.sensor_id,
            "kind": self.kind,
            "value": self.value,
            "bound": self.bound,
            "limit": self.limit,
            "reading_at": self.at.isoformat(),
            "batch_id": batch_id,
        }


def parse_limits(data: object) -> dict[str, Limit]:
    """Validate alert limits per kind (``{kind: {unit, low?, high?}}``); every kind needs at least one bound."""
    if not isinstance(data, Mapping):
        raise ValidationError("thresholds must be a mapping of sensor kind to {unit, low, high}", field="thresholds")
    limits: dict[str, Limit] = {}
    for kind in KINDS:
        where = f"thresholds.{kind}"
        raw = data.get(kind)
        if not isinstance(raw, Mapping):
            raise ValidationError(f"{where} is missing: give {{unit, low, high}} for every kind", field=where)
        unknown = sorted(set(raw) - {"unit", "low", "high"})
        if unknown:
            raise ValidationError(f"{where}.{unknown[0]}: unknown field; allowed: unit, low, high", field=where)
        low, high = (_bound(raw.get(b), f"{where}.{b}") for b in ("low", "high"))
        if low is None and high is None:
            raise ValidationError(f"{where}: give a low or a high limit (or both)", field=where)
        if low is not None and high is not None and low >= high:
            raise ValidationError(f"{where}.low must be below high; got low {low:g}, high {high:g}", field=where)
        unit = raw.get("unit")
        if not isinstance(unit, str) or not 1 <= len(unit) <= 20:
            raise ValidationError(f"{where}.unit must be 1-20 characters, e.g. kPa", field=f"{where}.unit")
        limits[kind] = Limit(kind, unit, low, high)
    extra = sorted(set(data) - set(KINDS))
    if extra:
        raise ValidationError(f"thresholds.{extra[0]}: unknown kind; kinds are {', '.join(KINDS)}", field="thresholds")
    return limits


def _bound(value: object, field: str) -> float | None:
    return None if value is None else bounded_float(value, field=field, minimum=-MAX_VALUE, maximum=MAX_VALUE)


def default_limits() -> dict[str, Limit]:
    """The fab's alert limits, shipped as package data (``thresholds.yaml``)."""
    text = resources.files(__package__).joinpath("thresholds.yaml").read_text(encoding="utf-8")
    return parse_limits(yaml.safe_load(text))


def check_sensor_id(value: object, *, field: str = "sensor_id") -> str:
    """Return a sensor id: 1-64 of lowercase letters, digits, '.', '_' and '-', starting with a letter or digit."""
    if not isinstance(value, str) or not _SENSOR.match(value):
        raise ValidationError(
            f"{field} must be 1-64 lowercase letters, digits, '.', '_' or '-' (e.g. temperature-0001); got "
            f"{str(value)[:80]!r}",
            field=field,
        )
    return value


def check_kind(value: object, *, field: str = "kind") -> str:
    """Return a sensor kind."""
    if value not in KINDS:
        raise ValidationError(f"{field} must be one of {', '.join(KINDS)}; got {value!r}", field=field)
    return str(value)


def check_readings(readings: Sequence[Reading], *, now: datetime) -> list[Reading]:
    """Refuse a batch that is empty or too big, or a reading with a bad sensor id, time or value; none is kept."""
    if not 1 <= len(readings) <= MAX_BATCH:
        raise ValidationError(
            f"readings must hold 1-{MAX_BATCH} readings per batch; got {len(readings)} (split the batch)",
            field="readings",
        )
    earliest, latest = now - LATE, now + AHEAD
    for sensor in {r.sensor_id for r in readings}:  # each distinct id once; a bad one is named by its first index
        if not isinstance(sensor, str) or not _SENSOR.match(sensor):
            i = next(i for i, r in enumerate(readings) if r.sensor_id == sensor)
            check_sensor_id(sensor, field=f"readings[{i}].sensor_id")
    seen: set[tuple[str, datetime]] = set()
    for i, r in enumerate(readings):
        at = r.at if r.at.tzinfo is UTC else ensure_utc(r.at, field=f"readings[{i}].at")
        if not earliest <= at <= latest:
            raise ValidationError(
                f"readings[{i}].at {at.isoformat()} is outside the accepted window {earliest.isoformat()} .. "
                f"{latest.isoformat()} (at most {int(LATE.total_seconds() // 60)} minutes late, "
                f"{int(AHEAD.total_seconds())} seconds ahead of the server's clock); check the gateway's clock",
                field=f"readings[{i}].at",
            )
        value = r.value
        if type(value) is not float and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValidationError(
                f"readings[{i}].value must be a finite number; got {value!r}", field=f"readings[{i}].value"
            )
        if not -MAX_VALUE <= value <= MAX_VALUE:  # NaN fails every comparison
            shown = "not a number" if value != value else f"{value:g}"
            raise ValidationError(
                f"readings[{i}].value must be a finite number within ±{MAX_VALUE:g} (a larger one is a sensor "
                f"fault); got {shown}",
                field=f"readings[{i}].value",
            )
        key = (r.sensor_id, at)
        if key in seen:
            raise ValidationError(
                f"readings[{i}] repeats sensor {r.sensor_id!r} at {at.isoformat()} within the batch; send each once",
                field=f"readings[{i}]",
            )
        seen.add(key)
    return list(readings)


def crossings(
    readings: Iterable[Reading], kinds: Mapping[str, str], alarms: Mapping[str, bool], limits: Mapping[str, Limit]
) -> tuple[list[Crossing], dict[str, bool]]:
    """The threshold crossings of a batch and each sensor's alarm state after it.

    A sensor in alarm raises no new alert until a reading within limits re-arms it: one alert per crossing,
    however many readings stay over the threshold. Readings are taken in time order per sensor.
    """
    state = dict(alarms)
    found: list[Crossing] = []
    batch = list(readings)
    # Only a sensor in alarm or with a reading over its threshold can change state: the others stay armed, so
    # their readings need no ordering (most of a batch, most of the time).
    moving = {s for s, alarm in alarms.items() if alarm}
    moving |= {r.sensor_id for r in batch if limits[kinds[r.sensor_id]].breach(r.value) is not None}
    for r in sorted((r for r in batch if r.sensor_id in moving), key=lambda r: (r.sensor_id, r.at)):
        kind = kinds[r.sensor_id]
        breach = limits[kind].breach(r.value)
        if breach is None:
            state[r.sensor_id] = False
        elif not state.get(r.sensor_id, False):
            state[r.sensor_id] = True
            found.append(Crossing(r.sensor_id, kind, r.at, float(r.value), breach[0], breach[1]))
    found.sort(key=lambda c: (c.at, c.sensor_id))
    return found, state


def minute_floor(at: datetime) -> datetime:
    """The start of the UTC minute `at` falls in."""
    return at.replace(second=0, microsecond=0)
