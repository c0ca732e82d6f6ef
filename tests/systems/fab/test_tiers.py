"""The fab's tiers: every raw reading in exactly one online tier, across the hour and 3-day boundaries and while
moves run; the all-tier query answers what the same readings all hot answer; reports from the aggregates."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.stores.database import time_from_db
from datastrata.systems.fab.domain import Reading
from datastrata.systems.fab.service import FabService
from datastrata.tiering.rows import from_parquet
from tests.systems.fab.conftest import START

SENSORS = ["temp-1", "pres-1", "vib-1"]
VALUE = {"temp-1": 60.0, "pres-1": 100.0, "vib-1": 2.0}


def batches(rng: random.Random, start: datetime, hours: int, every: timedelta) -> list[tuple[datetime, list[Reading]]]:
    """A batch every `every` for `hours`, each a few readings per sensor at random milliseconds."""
    out = []
    at = start
    while at < start + timedelta(hours=hours):
        batch = []
        for sensor in SENSORS:
            for ms in sorted(rng.sample(range(int(every.total_seconds() * 1000)), 3)):
                batch.append(Reading(sensor, at + timedelta(milliseconds=ms), VALUE[sensor] + rng.gauss(0, 5) * 3))
        out.append((at + every, batch))
        at += every
    return out


def placed(svc: FabService) -> dict[str, set[tuple[str, datetime]]]:
    """Where each raw reading is: the hot table, the warm table, the recorded Parquet parts."""
    with svc.runtime.db.read() as tx:
        hot = {(str(s), t) for s, t in tx.query("SELECT sensor_id, ts FROM fab_readings")}
        warm = {(str(s), t) for s, t in tx.query("SELECT sensor_id, ts FROM fab_readings_warm")}
    mover = svc.tiers.mover
    cold: set[tuple[str, object]] = set()
    for parts in mover.cold_parts("readings").values():
        for part in parts:
            table = from_parquet(mover.objects.read(part.location))
            cold |= set(zip(table.column("sensor_id").to_pylist(), table.column("ts").to_pylist(), strict=True))
    return {"hot": _times(hot), "warm": _times(warm), "cold": _times(cold)}


def _times(found: set[tuple[str, object]]) -> set[tuple[str, datetime]]:
    return {(s, time_from_db(t)) for s, t in found}


def test_every_reading_lives_in_exactly_one_online_tier(svc: FabService, clock: FrozenClock) -> None:
    rng = random.Random(3)
    sent: set[tuple[str, datetime]] = set()
    values: list[Reading] = []
    # Batches every 15 minutes over 4 days and 2 hours (but day 2): the lifecycle runs hourly in the first hours
    # and around the 3-day boundary of the first day, every 6 hours in between, after every batch past 4 days.
    for i, (at, batch) in enumerate(batches(rng, START, 4 * 24 + 2, timedelta(minutes=15))):
        if timedelta(hours=27) < at - START < timedelta(hours=68):
            continue  # the line stands still on day 2: the boundaries of interest are before and after
        clock.set(at)
        svc.ingest(f"b{i}", batch)
        sent |= {(r.sensor_id, r.at) for r in batch}
        values += batch
        edge = at <= START + timedelta(hours=3) or at >= START + timedelta(days=4) - timedelta(hours=1)
        if (i % 4 == 3 and edge) or i % 24 == 23 or at >= START + timedelta(days=4):
            svc.tiers.run(at)
            where = placed(svc)
            assert not (where["hot"] & where["warm"]) and not (where["warm"] & where["cold"])
            assert not (where["hot"] & where["cold"])
            assert where["hot"] | where["warm"] | where["cold"] == sent, f"a gap after the run at {at}"
    where = placed(svc)
    assert where["cold"] and where["warm"] and where["hot"], "every online tier holds readings by now"
    assert min(t for _, t in where["warm"]) >= START + timedelta(days=1), "the first day left warm after 3 days"
    assert min(t for _, t in where["hot"]) >= clock() - timedelta(hours=2), "hot holds the last hour (and a bit)"
    assert_query_as_if_all_hot(svc, values)


def assert_query_as_if_all_hot(svc: FabService, sent: list[Reading]) -> None:
    """The all-tier query answers what the same readings all hot answer: each reading, and per minute."""
    for sensor in ("temp-1", "vib-1"):
        for start, end in (
            (START, START + timedelta(days=5)),
            (START + timedelta(hours=71, minutes=30), START + timedelta(days=4, hours=1)),
        ):
            mine = sorted((r.at, r.value) for r in sent if r.sensor_id == sensor and start <= r.at < end)
            raw = svc.reports.query(sensor, start, end)["rows"]
            assert [(datetime.fromisoformat(r["at"]), r["value"]) for r in raw] == mine
            minutes: dict[datetime, list[float]] = {}
            for at, value in mine:
                minutes.setdefault(at.replace(second=0, microsecond=0), []).append(value)
            agg = svc.reports.query(sensor, start, end, agg="1m")["rows"]
            assert [(datetime.fromisoformat(r["minute"]), r["min"], r["max"], r["count"]) for r in agg] == [
                (m, min(v), max(v), len(v)) for m, v in sorted(minutes.items())
            ]
            assert [r["avg"] for r in agg] == pytest.approx([sum(v) / len(v) for _, v in sorted(minutes.items())])


def test_reads_during_moves_see_each_reading_once(svc: FabService, clock: FrozenClock) -> None:
    rng = random.Random(5)
    total = 0
    for i, (at, batch) in enumerate(batches(rng, START, 30, timedelta(minutes=15))):
        clock.set(at)
        svc.ingest(f"b{i}", batch)
        total += len(batch)
    seen: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(svc.tiers.read("readings", START, START + timedelta(days=5)).num_rows)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for hours in (2, 6, 30, 24 * 4 + 2):  # hot → warm, then the first day to cold
            svc.tiers.run(START + timedelta(hours=hours))
    finally:
        stop.set()
        reader.join()
    assert seen and set(seen) == {total}


def test_reports_from_aggregates_match_the_raw_readings(svc: FabService, clock: FrozenClock) -> None:
    rng = random.Random(2)
    sent: list[Reading] = []
    for i, (at, batch) in enumerate(batches(rng, START, 26, timedelta(minutes=10))):
        clock.set(at)
        svc.ingest(f"b{i}", batch)
        sent += batch
    svc.tiers.run(START + timedelta(days=1, hours=2))
    report = svc.reports.daily(START.date())
    day = [r for r in sent if r.at < START + timedelta(days=1)]
    by_kind = {k["kind"]: k for k in report["kinds"]}
    temps = [r.value for r in day if r.sensor_id == "temp-1"]
    assert by_kind["temperature"]["readings"] == len(temps)
    assert by_kind["temperature"]["max"] == max(temps) and by_kind["temperature"]["min"] == min(temps)
    assert by_kind["temperature"]["avg"] == pytest.approx(sum(temps) / len(temps), abs=1e-5)
    assert report["alerts"] == len(svc.alerts_between(START, START + timedelta(days=1)))
    weekly = svc.reports.weekly(START.date())
    assert weekly["from"].startswith("2026-11-02") and weekly["to"].startswith("2026-11-09")  # Monday to Monday
    assert {a["action"] for a in svc.reports.access_log()} == {"report.daily", "report.weekly"}


def test_access_log_freezes_after_a_year(svc: FabService, clock: FrozenClock) -> None:
    svc.reports.daily(START.date())
    clock.set(START + timedelta(days=367))
    svc.tiers.run()
    status = svc.tiers.status()["tiers"]["access_log"]
    assert status["frozen"]["rows"] == 1 and status["hot"]["rows"] == 0
    part = svc.tiers.mover.cold_parts("access_log")
    (records,) = part.values()
    assert svc.tiers.mover.objects.info(records[0].location).storage_class == "DEEP_ARCHIVE"
