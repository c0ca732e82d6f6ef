"""The hot path: batches with their alerts in one transaction, once per crossing, idempotent, bounded input."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.errors import RuleViolation, ValidationError
from datastrata.runtime import Runtime
from datastrata.systems.fab import domain
from datastrata.systems.fab.domain import Reading
from datastrata.systems.fab.service import FabService
from tests.systems.fab.conftest import START


def readings(values: list[float], sensor: str = "temp-1", start_ms: int = 0) -> list[Reading]:
    return [Reading(sensor, START + timedelta(milliseconds=start_ms + i), v) for i, v in enumerate(values)]


def stored(runtime: Runtime) -> int:
    with runtime.db.read() as tx:
        return int(tx.scalar("SELECT count(*) FROM fab_readings"))


def test_one_alert_per_crossing_across_batches(svc: FabService, clock: FrozenClock) -> None:
    clock.set(START + timedelta(seconds=1))  # the readings' batch commits a second after they were taken
    # temperature high is 85: over, over, back, over (two crossings), then over again in the next batch (no new one)
    first = svc.ingest("b1", readings([70.0, 90.0, 91.0, 80.0, 86.0]))
    second = svc.ingest("b2", readings([87.0, 88.0], start_ms=10))
    third = svc.ingest("b3", readings([60.0, 99.0], start_ms=20))
    assert (first.alerts, second.alerts, third.alerts) == (2, 0, 1)
    alerts = svc.alerts()
    assert [a["value"] for a in alerts] == [90.0, 86.0, 99.0]
    assert {a["bound"] for a in alerts} == {"high"}
    assert all(0.9 < lat <= 1.0 for lat in first.latencies) and len(first.latencies) == 2
    low = svc.ingest("b4", readings([60.0, 10.0, 9.0], start_ms=30))  # back within limits, then below 15
    assert low.alerts == 1 and svc.alerts()[-1]["bound"] == "low"


def test_batch_and_alerts_commit_together_or_not_at_all(svc: FabService, runtime: Runtime) -> None:
    bad = [*readings([90.0, 95.0]), Reading("unknown-9", START, 1.0)]
    with pytest.raises(ValidationError, match=r"readings\[2\]\.sensor_id 'unknown-9' is not a registered sensor"):
        svc.ingest("b1", bad)
    assert stored(runtime) == 0 and svc.alerts() == []
    assert [s["alarm"] for s in svc.sensors() if s["sensor_id"] == "temp-1"] == [False]  # the state did not move
    assert svc.ingest("b1", readings([90.0, 95.0])).alerts == 1


def test_a_retried_batch_is_stored_once(svc: FabService, runtime: Runtime) -> None:
    batch = readings([90.0, 70.0, 91.0])
    assert svc.ingest("b1", batch).alerts == 2
    again = svc.ingest("b1", batch)
    assert again.duplicate and again.alerts == 2 and again.latencies == ()
    assert stored(runtime) == 3 and len(svc.alerts()) == 2
    with pytest.raises(RuleViolation, match=r"already used for a different fab\.ingest command"):
        svc.ingest("b1", readings([1.0, 2.0, 3.0]))
    with pytest.raises(RuleViolation, match="already stored by another batch"):
        svc.ingest("b2", batch)  # the same readings under another batch id
    assert stored(runtime) == 3 and len(svc.alerts()) == 2


def test_alerts_are_events_in_the_log(svc: FabService, runtime: Runtime) -> None:
    svc.ingest("b1", readings([90.0]))
    events = runtime.stream(svc.scope())
    assert [e.type for e in events] == ["ThresholdCrossed"]
    assert events[0].occurred_at == START and events[0].payload["batch_id"] == "b1"


@pytest.mark.parametrize(
    ("batch", "field"),
    [
        ([], "readings"),
        ([Reading("temp-1", START, math.nan)], r"readings\[0\]\.value"),
        ([Reading("temp-1", START, math.inf)], r"readings\[0\]\.value"),
        ([Reading("temp-1", START, 2e9)], r"readings\[0\]\.value"),
        ([Reading("Temp 1", START, 1.0)], r"readings\[0\]\.sensor_id"),
        ([Reading("temp-1", START - timedelta(minutes=16), 1.0)], r"readings\[0\]\.at"),
        ([Reading("temp-1", START + timedelta(minutes=2), 1.0)], r"readings\[0\]\.at"),
        ([Reading("temp-1", START, 1.0), Reading("temp-1", START, 2.0)], r"readings\[1\]"),
    ],
)
def test_bad_readings_are_refused_and_nothing_is_written(
    svc: FabService, runtime: Runtime, batch: list[Reading], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        svc.ingest("bad", batch)
    assert refused.match(field)
    assert stored(runtime) == 0


def test_batch_size_is_bounded(svc: FabService, clock: FrozenClock) -> None:
    too_many = [Reading("temp-1", START, 1.0)] * (domain.MAX_BATCH + 1)
    with pytest.raises(ValidationError, match="1-50000 readings per batch"):
        svc.ingest("big", too_many)


def test_sensors_keep_their_kind(svc: FabService) -> None:
    assert svc.register_sensors([("temp-1", "temperature"), ("temp-2", "temperature")]) == 1
    with pytest.raises(RuleViolation, match="registered as temperature, not pressure"):
        svc.register_sensors([("temp-1", "pressure")])
    with pytest.raises(ValidationError, match=r"sensors\[0\]\.kind must be one of"):
        svc.register_sensors([("x-1", "humidity")])


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"temperature": {"unit": "C", "high": 85}, "pressure": {"unit": "kPa", "high": 1}}, "thresholds.vibration"),
        (
            {k: {"unit": "u", "low": 5, "high": 1} for k in domain.KINDS},
            r"thresholds.temperature.low must be below high",
        ),
        ({k: {"unit": "u"} for k in domain.KINDS}, "give a low or a high limit"),
        ({k: {"unit": "u", "high": "lots"} for k in domain.KINDS}, "thresholds.temperature.high"),
        ({**{k: {"unit": "u", "high": 1} for k in domain.KINDS}, "humidity": {"unit": "%"}}, "unknown kind"),
    ],
)
def test_bad_thresholds_are_refused(limits: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        domain.parse_limits(limits)


def test_shipped_thresholds_parse() -> None:
    limits = domain.default_limits()
    assert limits["temperature"].breach(86.0) == ("high", 85.0) and limits["vibration"].breach(5.0) is None
