"""Moves of rows to Parquet and of objects between classes: nothing lost, nothing twice, every move audited."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.errors import RuleViolation
from datastrata.stores.database import Database
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.plan import plan
from datastrata.tiering.policy import parse_policy
from datastrata.tiering.tiers import Tier
from tests.tiering.rowdata import NOW, POLICY, create_readings


def everything(mover: Mover) -> list[tuple[object, ...]]:
    table = mover.read_range("readings", NOW - timedelta(days=400), NOW + timedelta(days=1))
    return sorted(zip(*(table.column(n).to_pylist() for n in ("sensor", "ts", "value")), strict=True))


def test_old_days_move_to_parquet_and_read_back_unchanged(db: Database, tmp_path: object) -> None:
    total = create_readings(db)
    clock = FrozenClock(NOW)
    objects = ObjectStore(f"file://{tmp_path}/objects", clock=clock)
    mover = Mover(db, objects, parse_policy(POLICY), clock=clock)
    before = everything(mover)
    assert len(before) == total
    result = plan(mover.policy, mover.inventory(), NOW)
    cold_days = sorted(m.item.key for m in result.moves)
    assert cold_days == ["2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"]  # whole days older than 3d
    records = mover.run(result)
    assert [r.item for r in records] == cold_days and all(r.to_tier == "cold" for r in records)
    assert everything(mover) == before  # the same rows, now from the table and Parquet
    with db.read() as tx:
        assert tx.scalar("SELECT count(*) FROM readings WHERE ts < ?", (_db_time(db, "2026-11-28"),)) == 0
    first = records[0]
    assert first.rows > 0 and first.bytes > 0 and len(first.checksum) == 64 and "after 3d" in first.rule
    assert objects.info(first.location).storage_class == "GLACIER_IR"
    assert not plan(mover.policy, mover.inventory(), NOW).moves  # nothing left to do: a rerun moves nothing
    assert mover.run(result) == []


def test_rows_move_to_the_s3_api_server_and_read_back(s3_url: str, sqlite_url: str) -> None:
    from datastrata.stores.open import open_database

    db = open_database(sqlite_url)
    total = create_readings(db)
    clock = FrozenClock(NOW)
    mover = Mover(db, ObjectStore(s3_url, clock=clock), parse_policy(POLICY), clock=clock)
    before = everything(mover)
    records = mover.run(plan(mover.policy, mover.inventory(), NOW))
    assert len(records) == 4 and len(before) == total
    assert everything(mover) == before
    assert {mover.objects.info(r.location).storage_class for r in records} == {"GLACIER_IR"}  # as S3 reports it
    db.close()


def test_expiry_deletes_cold_days_once_and_audits_it(db: Database, tmp_path: object) -> None:
    create_readings(db, days=14)
    clock = FrozenClock(NOW)
    mover = Mover(db, ObjectStore(f"file://{tmp_path}/objects", clock=clock), parse_policy(POLICY), clock=clock)
    mover.run(plan(mover.policy, mover.inventory(), NOW))
    records = mover.records("readings")
    expired = {r.item for r in records if r.to_tier == "expired"}
    assert expired == {"2026-11-18", "2026-11-19", "2026-11-20"}  # ended 10 days ago or more
    clock.advance(timedelta(days=1))
    mover.run(plan(mover.policy, mover.inventory(), clock()))
    again = mover.records("readings")
    assert {r.item for r in again if r.to_tier == "expired"} == expired | {"2026-11-21"}
    assert "2026-11-21" not in {row[1].date().isoformat() for row in everything(mover)}  # type: ignore[attr-defined]
    assert not [o for o in mover.objects.list("tiering/readings/day=2026-11-21/")]


def test_raw_rows_wait_for_their_aggregate(db: Database, tmp_path: object) -> None:
    create_readings(db, days=14)
    data = copy.deepcopy(POLICY)
    data["datasets"]["readings_1d"] = {  # type: ignore[index]
        "kind": "rows",
        "table": "readings_1d",
        "time_column": "ts",
        "aggregates": "readings",
        "rules": [{"after": "1y", "to": "expired"}],
    }
    with db.transaction() as tx:
        kind = "TEXT" if db.dialect == "sqlite" else "TIMESTAMPTZ"
        tx.run_script(f"CREATE TABLE readings_1d (ts {kind} NOT NULL, mean DOUBLE PRECISION NOT NULL)")
    clock = FrozenClock(NOW)
    mover = Mover(db, ObjectStore(f"file://{tmp_path}/objects", clock=clock), parse_policy(data), clock=clock)
    result = plan(mover.policy, mover.inventory(), NOW)
    assert not [m for m in result.moves if m.to is Tier.EXPIRED]
    assert {h.item.key for h in result.held} == {"2026-11-18", "2026-11-19", "2026-11-20"}


def test_objects_change_class_by_stage_and_expire(objects_url: str, sqlite_url: str) -> None:
    from datastrata.stores.open import open_database

    clock = FrozenClock(NOW - timedelta(days=400))
    objects = ObjectStore(objects_url, clock=clock)
    objects.put("models/old.bin", b"unapproved weights", stage="unapproved")
    objects.put("models/champion.bin", b"approved weights", stage="approved")
    clock.set(NOW)
    policy = parse_policy(
        {
            "name": "models",
            "datasets": {
                "models": {
                    "kind": "objects",
                    "prefix": "models/",
                    "rules": [{"after": "365d", "to": "frozen", "stage": "unapproved"}, {"after": "30d", "to": "warm"}],
                }
            },
        }
    )
    db = open_database(sqlite_url)
    mover = Mover(db, objects, policy, clock=clock)
    records = mover.run(plan(policy, mover.inventory(), NOW))
    assert {(r.item, r.to_tier) for r in records} == {("models/old.bin", "frozen"), ("models/champion.bin", "warm")}
    assert objects.info("models/old.bin").storage_class == "GLACIER"
    assert objects.info("models/champion.bin").storage_class == "STANDARD_IA"
    assert all(len(r.checksum) == 64 and r.bytes > 0 for r in records)
    assert not plan(policy, mover.inventory(), NOW).moves
    db.close()


def _db_time(db: Database, day: str) -> object:
    from datetime import UTC, datetime

    from datastrata.stores.database import time_to_db

    return time_to_db(db.dialect, datetime.fromisoformat(day).replace(tzinfo=UTC))


def test_cold_days_freeze_and_need_a_restore_to_be_read(db: Database, tmp_path: object) -> None:
    create_readings(db)
    data = copy.deepcopy(POLICY)
    data["datasets"]["readings"]["rules"] = [{"after": "3d", "to": "cold"}, {"after": "5d", "to": "frozen"}]  # type: ignore[index]
    data["queries"] = [{"name": "recent readings", "dataset": "readings", "covers": "5d"}]
    clock = FrozenClock(NOW)
    objects = ObjectStore(f"file://{tmp_path}/objects", clock=clock)
    mover = Mover(db, objects, parse_policy(data), clock=clock)
    first = mover.run(plan(mover.policy, mover.inventory(), NOW))
    assert {(r.item, r.to_tier) for r in first} == {
        ("2026-11-24", "frozen"),  # straight from the table to the archive class: copied, verified, then frozen
        ("2026-11-25", "frozen"),
        ("2026-11-26", "cold"),
        ("2026-11-27", "cold"),
    }
    clock.advance(timedelta(days=1))
    second = mover.run(plan(mover.policy, mover.inventory(), clock()))
    assert [(r.item, r.from_tier, r.to_tier) for r in second] == [
        ("2026-11-26", "cold", "frozen"),
        ("2026-11-28", "hot", "cold"),
    ]
    frozen_day = mover.cold_parts("readings")["2026-11-26"][0].location
    assert objects.info(frozen_day).storage_class == "GLACIER"
    with pytest.raises(RuleViolation, match="restore them first"):
        mover.read_range("readings", NOW - timedelta(days=6), NOW)
    assert len(mover.read_range("readings", NOW - timedelta(days=3), NOW)) > 0  # online days still answer
