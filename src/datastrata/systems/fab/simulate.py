"""Simulated fab sensors: a seeded random walk per sensor with rare excursions over the threshold.

The simulation drives the runtime's clock (a :class:`FrozenClock`): it moves the clock to the end of each batch's
window before ingesting it, and runs the tiering lifecycle every simulated hour, so a day of readings takes
seconds, not a day.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from datastrata.core.clock import FrozenClock
from datastrata.core.errors import ValidationError
from datastrata.core.validation import bounded_float, bounded_int
from datastrata.systems.fab.domain import KINDS, LATE, MAX_BATCH, Limit, Reading
from datastrata.systems.fab.service import FabService

#: Where each kind's walk starts and how far it wanders per reading (its limits are the service's thresholds).
BASELINE = {"temperature": (60.0, 0.4), "pressure": (100.0, 0.5), "vibration": (2.0, 0.08)}
#: How often, on average, a sensor makes an excursion over its threshold (whatever its rate).
EXCURSION_EVERY = timedelta(hours=6)
MAX_SENSORS = 10_000
MAX_MINUTES = 7 * 24 * 60
Progress = Callable[[int, int], None]


@dataclass
class _Walk:
    sensor_id: str
    kind: str
    value: float
    next_at: datetime
    boost: int = 0


def sensor_ids(count: int) -> list[tuple[str, str]]:
    """`count` sensors, the kinds in turn: temperature-0001, pressure-0002, vibration-0003, …"""
    return [(f"{KINDS[i % 3]}-{i + 1:04d}", KINDS[i % 3]) for i in range(count)]


def simulate(
    svc: FabService,
    clock: FrozenClock,
    *,
    sensors: int,
    rate: float,
    minutes: int,
    start: datetime,
    seed: int = 7,
    tier_every: timedelta = timedelta(hours=1),
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Simulate `sensors` sensors reading `rate` times a second for `minutes` from `start`; return a summary."""
    bounded_int(sensors, field="sensors", minimum=1, maximum=MAX_SENSORS)
    rate = bounded_float(rate, field="rate", minimum=1 / 3600, maximum=1000.0)
    bounded_int(minutes, field="minutes", minimum=1, maximum=MAX_MINUTES)
    if sensors * rate * minutes * 60 > 50_000_000:
        raise ValidationError(
            f"that is {sensors * rate * minutes * 60:,.0f} readings, more than 50,000,000 per run; lower --sensors, "
            "--rate or --minutes",
            field="minutes",
        )
    rng = random.Random(seed)
    clock.set(start)
    svc.register_sensors(sensor_ids(sensors))
    interval = timedelta(seconds=1 / rate)
    walks = [
        _Walk(s, k, BASELINE[k][0], start + timedelta(milliseconds=rng.randrange(max(1, int(1000 / rate)))))
        for s, k in sensor_ids(sensors)
    ]
    window = _window(sensors, rate)
    end = start + timedelta(minutes=minutes)
    at, batches, readings, alerts, next_tier, runs = start, 0, 0, 0, start + tier_every, 0
    total = int((end - start) / window) + 1
    while at < end:
        until = min(at + window, end)
        batch = [r for w in walks for r in _advance(w, until, interval, rng, svc.limits[w.kind])]
        clock.set(until)
        if batch:
            outcome = svc.ingest(f"sim-{seed}-{at.isoformat()}", batch)
            batches, readings, alerts = batches + 1, readings + outcome.readings, alerts + outcome.alerts
        at = until
        if at >= next_tier or at >= end:
            svc.tiers.run(at)
            runs, next_tier = runs + 1, next_tier + tier_every
        if progress is not None:
            progress(min(batches, total), total)
    return {
        "sensors": sensors,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "readings": readings,
        "batches": batches,
        "alerts": alerts,
        "tiering_runs": runs,
    }


def _window(sensors: int, rate: float) -> timedelta:
    """A batch's span of simulated time: at most half a full batch of readings, and never past the late limit."""
    seconds = min(LATE.total_seconds() * 0.9, (MAX_BATCH // 2) / (sensors * rate))
    return timedelta(milliseconds=max(1, int(seconds * 1000)))


def _advance(walk: _Walk, until: datetime, interval: timedelta, rng: random.Random, limit: Limit) -> list[Reading]:
    base, step = BASELINE[walk.kind]
    out: list[Reading] = []
    while walk.next_at < until:
        if walk.boost == 0 and rng.random() < interval / EXCURSION_EVERY:
            walk.boost = rng.randint(3, 12)  # an excursion: a few readings over the high limit
        if walk.boost:
            walk.boost -= 1
            high = limit.high if limit.high is not None else base * 2
            value = high + abs(high - base) * rng.uniform(0.02, 0.2)
        else:
            walk.value += 0.1 * (base - walk.value) + rng.gauss(0.0, step)
            value = walk.value
        at = walk.next_at.replace(microsecond=walk.next_at.microsecond // 1000 * 1000)  # millisecond resolution
        out.append(Reading(walk.sensor_id, at, round(value, 4)))
        walk.next_at += interval
    return out
