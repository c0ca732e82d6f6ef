"""Frozen restores as jobs: the ETA per tier, one RestoreCompleted, the read before, after and after expiry."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.errors import NotFound, ValidationError
from datastrata.eventlog.log import EventLog
from datastrata.runtime.jobs import EXTERNAL, Jobs
from datastrata.stores.database import Database
from datastrata.tiering.job import TieringJob
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.plan import plan
from datastrata.tiering.policy import parse_policy
from datastrata.tiering.query import FrozenInRange, RangeQuery, run_query
from datastrata.tiering.restores import EVENT, Restores, list_restores
from datastrata.writes.idempotency import Claim
from tests.tiering.rowdata import NOW, POLICY, create_readings

FROZEN_DAY = "2026-11-24"


def _frozen_mover(db: Database, objects_url: str, clock: FrozenClock) -> tuple[Mover, list[dict[str, object]]]:
    """Readings over 8 days, moved so the oldest days are frozen; returns the mover and every row as it was."""
    create_readings(db)
    data = copy.deepcopy(POLICY)
    data["datasets"]["readings"]["rules"] = [{"after": "3d", "to": "cold"}, {"after": "5d", "to": "frozen"}]  # type: ignore[index]
    data["queries"] = [{"name": "recent readings", "dataset": "readings", "covers": "5d"}]
    mover = Mover(db, ObjectStore(objects_url, clock=clock), parse_policy(data), clock=clock)
    before = run_query(mover, _day_query(FROZEN_DAY)).to_pylist()
    mover.run(plan(mover.policy, mover.inventory(), NOW))
    return mover, before


def _day_query(day: str) -> RangeQuery:
    start = NOW.replace(year=int(day[:4]), month=int(day[5:7]), day=int(day[8:]), hour=0)
    return RangeQuery("readings", start, start + timedelta(days=1))


def _events(db: Database) -> list[dict[str, object]]:
    return [dict(e.payload) for e in EventLog(db).read_all(types=[EVENT])]


def test_a_restore_is_a_job_that_completes_once_and_expires(db: Database, objects_url: str) -> None:
    clock = FrozenClock(NOW)
    mover, before = _frozen_mover(db, objects_url, clock)
    assert before
    with pytest.raises(FrozenInRange, match=f"datastrata tiering restore POLICY readings {FROZEN_DAY}"):
        run_query(mover, _day_query(FROZEN_DAY))
    restores = Restores(mover)
    asked = restores.request("readings", [FROZEN_DAY], tier="standard", days=2)
    assert asked.ready_at == NOW + timedelta(hours=5) and asked.expires_at == NOW + timedelta(days=2, hours=5)
    job = Jobs(db, clock=clock).get(asked.job)
    assert (job.kind, job.state, job.owner) == ("restore", "running", EXTERNAL)
    assert restores.request("readings", [FROZEN_DAY], tier="bulk").job == asked.job  # the standing request
    with pytest.raises(FrozenInRange, match="being restored"):
        run_query(mover, _day_query(FROZEN_DAY))
    tiering = TieringJob(mover, restores=restores)
    tiering()
    assert _events(db) == [] and Jobs(db, clock=clock).get(asked.job).state == "running"
    clock.advance(timedelta(hours=5))
    tiering()
    tiering.restores_checked_at = None
    tiering()  # noticed twice: still one event
    assert restores.complete_ready() == []
    events = _events(db)
    assert len(events) == 1 and events[0]["items"] == [FROZEN_DAY] and events[0]["dataset"] == "readings"
    done = Jobs(db, clock=clock).get(asked.job)
    assert done.state == "succeeded" and done.result["expires_at"] == asked.expires_at.isoformat()
    assert run_query(mover, _day_query(FROZEN_DAY)).to_pylist() == before  # read from the restored copy
    clock.advance(timedelta(days=2))
    with pytest.raises(FrozenInRange, match="restored copy expired"):
        run_query(mover, _day_query(FROZEN_DAY))
    listed = list_restores(db)
    assert [r.job for r in listed] == [asked.job] and listed[0].state(clock()) == "expired"


def test_the_eta_follows_the_tier(db: Database, tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    mover, _ = _frozen_mover(db, f"file://{tmp_path}/objects", clock)
    now = clock.advance(timedelta(days=1))
    mover.run(plan(mover.policy, mover.inventory(), now))  # a third day freezes
    restores = Restores(mover)
    etas = {
        tier: restores.request("readings", [day], tier=tier).ready_at - now
        for tier, day in (("expedited", "2026-11-24"), ("standard", "2026-11-25"), ("bulk", "2026-11-26"))
    }
    assert etas == {"expedited": timedelta(minutes=5), "standard": timedelta(hours=5), "bulk": timedelta(hours=12)}
    ranged = restores.request("readings", start=now - timedelta(days=30), end=now, tier="expedited")
    assert ranged.items == ("2026-11-24", "2026-11-25", "2026-11-26")  # every frozen day in the range
    assert ranged.ready_at == now + timedelta(hours=12)  # each object keeps its standing request: the last decides
    everything = list_restores(db)
    assert len(everything) == 4 and ranged.job in {r.job for r in everything}
    first = list_restores(db, limit=3)
    rest = list_restores(db, limit=3, before=(first[-1].created_at, first[-1].job))
    assert [r.job for r in first + rest] == [r.job for r in everything]  # keyset pages: nothing missed or repeated


def test_bad_requests_are_refused_by_field_and_write_nothing(db: Database, tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    mover, _ = _frozen_mover(db, f"file://{tmp_path}/objects", clock)
    restores = Restores(mover)
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: restores.request("readings", [FROZEN_DAY], tier="fast"), "tier"),
        (lambda: restores.request("readings", [FROZEN_DAY], days=0), "days"),
        (lambda: restores.request("readings", ["2026-11-27"]), "items"),  # cold: readable as it is
        (lambda: restores.request("readings", [FROZEN_DAY], start=NOW, end=NOW), "items"),
        (lambda: restores.request("readings", start=NOW - timedelta(days=1), end=NOW), "from"),  # nothing frozen
    ]
    for call, field in cases:
        with pytest.raises(ValidationError) as refused:
            call()
        assert refused.value.field == field
    with pytest.raises(NotFound, match="no day '2020-01-01'"):
        restores.request("readings", ["2020-01-01"])
    with pytest.raises(NotFound, match="known"):
        restores.request("nope", [FROZEN_DAY])
    assert list_restores(db) == []
    assert mover.objects.info(mover.cold_parts("readings")[FROZEN_DAY][0].location).restore is None


def test_an_idempotency_key_returns_the_first_answer(db: Database, tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    mover, _ = _frozen_mover(db, f"file://{tmp_path}/objects", clock)
    restores = Restores(mover)
    content = {"dataset": "readings", "items": [FROZEN_DAY], "tier": "standard"}
    first = restores.request("readings", [FROZEN_DAY], claim=Claim.of("default", "tiering.restore", "k1", content))
    again = restores.request("readings", [FROZEN_DAY], claim=Claim.of("default", "tiering.restore", "k1", content))
    assert again.job == first.job and len(list_restores(db)) == 1


def test_objects_of_a_dataset_are_restored_by_key(db: Database, tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    objects = ObjectStore(f"file://{tmp_path}/objects", clock=clock)
    objects.put("models/m1.bin", b"weights", storage_class="GLACIER", stage="unapproved")
    policy = parse_policy(
        {
            "name": "models",
            "datasets": {
                "models": {"kind": "objects", "prefix": "models/", "rules": [{"after": "7y", "to": "expired"}]}
            },
        }
    )
    restores = Restores(Mover(db, objects, policy, clock=clock))
    objects.put("models/m2.bin", b"older", storage_class="DEEP_ARCHIVE")
    with pytest.raises(ValidationError, match="for DEEP_ARCHIVE objects") as refused:
        restores.request("models", ["models/m1.bin", "models/m2.bin"], tier="expedited")  # no expedited from deep
    assert refused.value.field == "tier" and objects.info("models/m1.bin").restore is None  # nothing asked
    asked = restores.request("models", ["models/m1.bin"], tier="expedited", days=1)
    assert asked.ready_at == NOW + timedelta(minutes=5) and asked.items == ("models/m1.bin",)
    clock.advance(timedelta(minutes=5))
    assert [r.job for r in restores.complete_ready()] == [asked.job]
    assert objects.read("models/m1.bin") == b"weights"


def test_request_restore_on_a_runtime_completes_under_its_tiering_job(tmp_path: Path, store_url: str) -> None:
    from datastrata.core.config import Settings
    from datastrata.runtime import Runtime
    from datastrata.runtime.jobs import jobs_of
    from datastrata.tiering.job import install
    from datastrata.tiering.restores import request_restore

    clock = FrozenClock(NOW)
    settings = Settings(store=store_url, graph=f"ladybug:///{tmp_path / 'g'}", objects=f"file://{tmp_path / 'o'}")
    runtime = Runtime.open(settings, clock=clock)
    try:
        objects = ObjectStore(settings.objects, clock=clock)
        objects.put("models/old.bin", b"v1", storage_class="GLACIER")
        objects.put("models/gone.bin", b"v0", storage_class="GLACIER")
        policy = parse_policy(
            {
                "name": "models",
                "datasets": {
                    "models": {"kind": "objects", "prefix": "models/", "rules": [{"after": "7y", "to": "expired"}]}
                },
            }
        )
        install(runtime, policy)
        asked = request_restore(runtime, policy, "models", ["models/old.bin"], tier="standard", days=1)
        lost = request_restore(runtime, policy, "models", ["models/gone.bin"], tier="bulk", days=1)
        objects.delete("models/gone.bin")  # expired before its copy was ready
        assert jobs_of(runtime).get(asked.job).state == "running"
        clock.advance(timedelta(hours=5))
        while runtime.run_once():
            pass
        assert jobs_of(runtime).get(asked.job).state == "succeeded"
        failed = jobs_of(runtime).get(lost.job)
        assert failed.state == "failed" and "deleted (expired) before its restore completed" in (failed.error or "")
        events = [e for e in runtime.log.read_all() if e.type == EVENT]
        assert [(e.stream_id, e.payload["items"]) for e in events] == [
            (f"tiering-restore-{asked.job}", ["models/old.bin"])
        ]
    finally:
        runtime.close()
