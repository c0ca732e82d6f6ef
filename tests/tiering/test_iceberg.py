"""Cold parts registered in an Iceberg table (SQL catalog in the store): read back exactly, expired, crash-safe."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.errors import ValidationError
from datastrata.stores.database import Database, time_to_db
from datastrata.stores.open import open_database
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.plan import plan
from datastrata.tiering.policy import parse_policy
from datastrata.tiering.rows import from_parquet
from tests.tiering.rowdata import ICEBERG_POLICY, NOW, POLICY, create_readings

ICEBERG: dict[str, Any] = copy.deepcopy(ICEBERG_POLICY)
CHILD = Path(__file__).with_name("move_child.py")
ROOT = Path(__file__).parents[2]
Row = tuple[object, ...]


def rows_of(table: Any) -> list[Row]:
    return sorted(zip(*(table.column(n).to_pylist() for n in ("sensor", "ts", "value")), strict=True))


def cold_rows(mover: Mover) -> list[Row]:
    """The rows of every recorded Parquet part still online (the truth the table must match)."""
    parts = [p for found in mover.cold_parts("readings").values() for p in found]
    return sorted(r for p in parts for r in rows_of(from_parquet(mover.objects.read(p.location))))


def scanned(mover: Mover) -> list[Row]:
    """The table read back through pyiceberg's own scan (a fresh catalog, as another engine would)."""
    return rows_of(mover.iceberg.catalog().load_table("fab.readings").scan().to_arrow())


def mover_of(db: Database, objects_url: str, policy: dict[str, Any] = ICEBERG) -> tuple[Mover, FrozenClock]:
    clock = FrozenClock(NOW)
    return Mover(db, ObjectStore(objects_url, clock=clock), parse_policy(policy), clock=clock), clock


def test_moved_days_are_an_iceberg_table_of_exactly_the_moved_rows(db: Database, tmp_path: Path) -> None:
    create_readings(db)
    mover, clock = mover_of(db, f"file://{tmp_path}/objects")
    records = mover.run(plan(mover.policy, mover.inventory(), NOW))
    assert len(records) == 4
    moved = cold_rows(mover)
    assert len(moved) == sum(r.rows for r in records) and scanned(mover) == moved
    table = mover.iceberg.catalog().load_table("fab.readings")
    files = {f.file.file_path for f in table.scan().plan_files()}
    assert files == {mover.iceberg.uri(r.location) for r in records}  # the mover's own files, not copies
    assert not list((tmp_path / "objects" / "iceberg").rglob("*.parquet"))  # no data written twice
    assert [f.name for f in table.spec().fields] == ["ts_day"]
    import duckdb  # DuckDB's iceberg extension needs a download this machine cannot make: read the manifest's files

    listed = sorted(f.removeprefix("file://") for f in files)
    assert rows_of(duckdb.connect().sql(f"SELECT * FROM read_parquet({listed})").to_arrow_table()) == moved
    one_day = table.scan(row_filter="ts >= '2026-11-25T00:00:00+00:00' AND ts < '2026-11-26T00:00:00+00:00'")
    assert len(one_day.plan_files()) == 1  # partition pruning by day
    snapshots = len(table.snapshots())
    mover.register()  # idempotent: nothing to add, no new snapshot
    assert len(mover.iceberg.catalog().load_table("fab.readings").snapshots()) == snapshots
    clock.set(NOW + timedelta(days=8))  # 2026-11-24..27 are now older than 10 days: they expire
    expired = mover.run(plan(mover.policy, mover.inventory(), clock()))
    gone = {r.item for r in expired if r.to_tier == "expired" and r.from_tier == "cold"}
    assert gone >= {"2026-11-24", "2026-11-25"}
    after = scanned(mover)
    assert after and all(r[1].date().isoformat() not in gone for r in after)  # type: ignore[attr-defined]
    left = mover.iceberg.catalog().load_table("fab.readings").scan().plan_files()
    assert {t.file.file_path for t in left} == {
        mover.iceberg.uri(p.location) for parts in mover.cold_parts("readings").values() for p in parts
    }


def test_the_table_reads_back_from_the_s3_api_server(s3_url: str, sqlite_url: str) -> None:
    db = open_database(sqlite_url)
    create_readings(db)
    mover, _ = mover_of(db, s3_url)
    records = mover.run(plan(mover.policy, mover.inventory(), NOW))
    assert len(records) == 4
    assert scanned(mover) == cold_rows(mover)
    location = mover.iceberg.catalog().load_table("fab.readings").location()
    assert location.startswith("s3://") and "/iceberg/" in location
    db.close()


def test_a_part_recorded_but_not_registered_before_kill_9_is_registered_next_run(
    store_url: str, tmp_path: Path
) -> None:
    db = open_database(store_url)
    create_readings(db)
    objects_url = f"file://{tmp_path}/objects"
    mover, _ = mover_of(db, objects_url)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), store_url, objects_url, "recorded", "iceberg"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert child.stdout is not None
    seen: list[str] = []
    while seen.count("recorded") < 2:  # the second part is recorded; its registration comes next
        line = child.stdout.readline()
        assert line, f"the child ended early: {seen}"
        seen.append(line.split()[0])
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    recorded = mover.cold_parts("readings")
    assert len(recorded) == 2
    table = mover.iceberg.catalog().load_table("fab.readings")
    assert len(table.scan().plan_files()) == 1  # the kill came between record and register
    mover.run(plan(mover.policy, mover.inventory(), NOW))
    assert len(mover.cold_parts("readings")) == 4
    assert scanned(mover) == cold_rows(mover)  # every moved row once: the orphan registered, none twice
    db.close()


def test_concurrent_registrations_are_serialised(store_url: str, tmp_path: Path) -> None:
    db = open_database(store_url)
    create_readings(db)
    mover, _ = mover_of(db, f"file://{tmp_path}/objects")
    mover.run(plan(mover.policy, mover.inventory(), NOW))
    table = mover.iceberg.catalog().load_table("fab.readings")
    last = table.current_snapshot()
    assert last is not None
    with table.transaction() as tx, tx.update_snapshot().overwrite() as overwrite:
        for task in table.scan().plan_files():  # unregister every part, then let two writers race to restore
            overwrite.delete_data_file(task.file)
    others = [Mover(db, mover.objects, mover.policy, clock=mover.clock) for _ in range(2)]
    errors: list[BaseException] = []

    def register(m: Mover) -> None:
        try:
            m.register()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(m,)) for m in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert scanned(mover) == cold_rows(mover)  # one writer at a time: each part registered exactly once
    db.close()


@pytest.mark.parametrize(
    ("iceberg", "field", "says"),
    [
        ({"table": "readings"}, "datasets.readings.iceberg.table", "namespace.name"),
        ({"table": "Fab.Readings"}, "datasets.readings.iceberg.table", "lowercase"),
        ({"table": "fab.readings", "format": 2}, "datasets.readings.iceberg.format", "unknown field"),
        ("fab.readings", "datasets.readings.iceberg", "a mapping with table"),
    ],
)
def test_a_bad_iceberg_setting_is_refused_by_field(iceberg: object, field: str, says: str) -> None:
    bad = copy.deepcopy(POLICY)
    bad["datasets"]["readings"]["iceberg"] = iceberg
    with pytest.raises(ValidationError) as caught:
        parse_policy(bad)
    assert caught.value.field == field and says in str(caught.value)


def test_two_datasets_cannot_share_one_iceberg_table() -> None:
    bad = copy.deepcopy(ICEBERG)
    bad["datasets"]["other"] = {**copy.deepcopy(bad["datasets"]["readings"]), "table": "other"}
    with pytest.raises(ValidationError) as caught:
        parse_policy(bad)
    assert caught.value.field == "datasets.other.iceberg.table" and "already the table" in str(caught.value)


def test_our_migration_makes_the_catalog_tables_pyiceberg_declares(db: Database) -> None:
    from pyiceberg.catalog.sql import IcebergNamespaceProperties, IcebergTables
    from sqlalchemy import create_engine, inspect

    from datastrata.tiering.iceberg import _sqlalchemy_url
    from datastrata.tiering.schema import ICEBERG_CATALOG

    db.ensure(ICEBERG_CATALOG)
    engine = create_engine(_sqlalchemy_url(db))
    try:
        found = inspect(engine)
        for model in (IcebergTables, IcebergNamespaceProperties):
            table: Any = model.__table__
            declared = {c.name: (str(c.type), c.nullable, c.primary_key) for c in table.columns}
            keys = set(found.get_pk_constraint(table.name)["constrained_columns"])
            made = {
                c["name"]: (str(c["type"]), c["nullable"] and c["name"] not in keys, c["name"] in keys)
                for c in found.get_columns(table.name)
            }
            assert made == declared, table.name
    finally:
        engine.dispose()


def test_the_application_role_registers_parts_without_ddl_rights(
    pg_server: str, bare_pg_url: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from datastrata.cli import app
    from datastrata.testing.servers import create_roles

    roles = create_roles(pg_server, bare_pg_url.rsplit("/", 1)[1], prefix="icebergtest")
    owner = open_database(roles.owner)
    create_readings(owner)  # the owner makes the data table; migrate then grants the roles DML on every table
    owner.close()
    env = {"DATASTRATA_APP_ROLE": roles.app_role, "DATASTRATA_PLATFORM_ROLE": roles.platform_role}
    done = CliRunner().invoke(app, ["--store", roles.app, "migrate", "--owner-url", roles.owner], env=env)
    assert done.exit_code == 0, done.stderr
    db = open_database(roles.app)
    mover, _ = mover_of(db, f"file://{tmp_path}/objects")
    assert len(mover.run(plan(mover.policy, mover.inventory(), NOW))) == 4
    assert scanned(mover) == cold_rows(mover)  # pyiceberg ran no DDL: the catalog tables came from migrate
    db.close()


def test_the_iceberg_command_shows_tables_snapshots_and_files(store_url: str, tmp_path: Path) -> None:
    import json

    import yaml
    from pyiceberg.catalog.sql import SqlCatalog
    from typer.testing import CliRunner

    from datastrata.cli import app
    from datastrata.stores.database import time_to_db
    from datastrata.tiering.iceberg import _sqlalchemy_url

    db = open_database(store_url)
    kind = "TEXT" if db.dialect == "sqlite" else "TIMESTAMPTZ"
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with db.transaction() as tx:
        tx.run_script(f"CREATE TABLE readings (sensor TEXT NOT NULL, ts {kind} NOT NULL, value DOUBLE PRECISION)")
        tx.executemany(
            "INSERT INTO readings (sensor, ts, value) VALUES (?, ?, ?)",
            [
                (f"s{h}", time_to_db(tx.dialect, today - timedelta(days=d, hours=h)), float(d * 10 + h))
                for d in range(7)
                for h in range(3)
            ],
        )
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(ICEBERG))
    env = {"DATASTRATA_STORE": store_url, "DATASTRATA_OBJECTS": f"file://{tmp_path}/objects"}
    runner = CliRunner()
    ran = runner.invoke(app, ["tiering", "run", str(policy), "--json"], env=env)
    assert ran.exit_code == 0, ran.stderr
    moved = json.loads(ran.stdout)["moved"]
    shown = runner.invoke(app, ["tiering", "iceberg", str(policy), "--json"], env=env)
    assert shown.exit_code == 0, shown.stderr
    (table,) = json.loads(shown.stdout)["tables"]
    assert table["table"] == "fab.readings" and table["exists"] and table["pending"] == []
    assert sorted(f["day"] for f in table["files"]) == sorted(m["item"] for m in moved)
    assert sum(f["rows"] for f in table["files"]) == sum(m["rows"] for m in moved)
    assert sum(s["added_files"] for s in table["snapshots"]) == len(moved)
    assert "ts_day" in table["partitioning"] and table["location"].startswith("file://")
    assert table["metadata"].startswith(table["location"]) and table["metadata"].endswith(".metadata.json")
    # Another reader, given only the catalog and the warehouse, sees exactly the moved rows.
    other = SqlCatalog("datastrata", uri=_sqlalchemy_url(db), warehouse=f"file://{tmp_path}/objects/iceberg")
    read = other.load_table("fab.readings").scan().to_arrow()
    with db.read() as tx:
        left = int(tx.scalar("SELECT count(*) FROM readings"))
    assert read.num_rows == sum(m["rows"] for m in moved) == 21 - left
    assert sorted(read.column("value").to_pylist()) == sorted(
        float(d * 10 + h)
        for d in range(7)
        for h in range(3)
        if today - timedelta(days=d, hours=h) < today - timedelta(days=3)
    )
    db.close()
    text = runner.invoke(app, ["tiering", "iceberg", str(policy)], env=env)
    assert text.exit_code == 0 and "fab.readings" in text.stdout and "snapshot" in text.stdout
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(POLICY))
    refused = runner.invoke(app, ["tiering", "iceberg", str(plain)], env=env)
    assert refused.exit_code == 2 and "registers no dataset in Iceberg" in refused.stderr


def with_spare(policy: dict[str, Any]) -> dict[str, Any]:
    """`policy` plus a second rows dataset, `spare` (table spare_readings, no Iceberg table)."""
    both = copy.deepcopy(policy)
    both["datasets"]["spare"] = {**POLICY["datasets"]["readings"], "table": "spare_readings"}
    return both


def test_a_column_added_later_joins_the_table_and_a_changed_type_blocks_that_dataset_only(
    sqlite_url: str, tmp_path: Path
) -> None:
    db = open_database(sqlite_url)
    create_readings(db)
    with db.transaction() as tx:
        tx.execute("CREATE TABLE spare_readings AS SELECT * FROM readings")
    mover, clock = mover_of(db, f"file://{tmp_path}/objects", with_spare(ICEBERG))
    mover.run(plan(mover.policy, mover.inventory(), NOW))
    with db.transaction() as tx:
        tx.execute("ALTER TABLE readings ADD COLUMN unit TEXT DEFAULT 'C'")
    clock.advance(timedelta(days=1))  # 2026-11-28 goes cold, with the new column
    mover.run(plan(mover.policy, mover.inventory(), clock()))
    table = mover.iceberg.catalog().load_table("fab.readings").scan().to_arrow()
    assert rows_of(table) == cold_rows(mover)
    units = {
        (str(ts.date()), u)
        for ts, u in zip(table.column("ts").to_pylist(), table.column("unit").to_pylist(), strict=True)
    }
    assert ("2026-11-28", "C") in units and ("2026-11-24", None) in units  # older days read the new column as null
    with db.transaction() as tx:  # 2026-11-29: every value is text now, in a column the table holds as double
        tx.execute("UPDATE readings SET value = 'n/a' WHERE ts < '2026-11-30'")
    clock.advance(timedelta(days=1))
    moved = mover.run(plan(mover.policy, mover.inventory(), clock()))
    # the day is copied and recorded (readable through the mover), then its table refuses it: the dataset blocks
    assert {(r.dataset, r.item) for r in moved} == {("readings", "2026-11-29"), ("spare", "2026-11-29")}
    assert set(mover.blocked) == {"readings"} and "keep each column's type" in mover.blocked["readings"]
    assert "datasets.readings.iceberg" in mover.blocked["readings"]
    assert scanned(mover) == sorted(r for r in cold_rows(mover) if str(r[1])[:10] != "2026-11-29")  # the rest stays
    clock.advance(timedelta(days=9))  # readings' old days are due to expire: a blocked dataset deletes nothing
    held = mover.run(plan(mover.policy, mover.inventory(), clock()))
    assert {r.dataset for r in held} == {"spare"} and all(mover.objects.exists(k) for k in mover.cold_keys("readings"))
    db.close()


def test_the_worker_job_registers_what_it_moves(sqlite_url: str, tmp_path: Path) -> None:
    from datastrata.core.config import Settings
    from datastrata.runtime import Runtime
    from datastrata.tiering.job import install

    clock = FrozenClock(NOW)
    runtime = Runtime.open(Settings(store=sqlite_url, objects=f"file://{tmp_path}/objects"), clock=clock)
    create_readings(runtime.db)
    job = install(runtime, parse_policy(ICEBERG), every=timedelta(hours=6))
    job.batch = 3
    assert runtime.run_once() == 3
    assert scanned(job.mover) == cold_rows(job.mover) and len(job.mover.cold_parts("readings")) == 3
    assert runtime.run_once() == 1
    assert scanned(job.mover) == cold_rows(job.mover) and len(job.mover.cold_parts("readings")) == 4
    runtime.close()


def test_a_blocked_dataset_degrades_health_and_the_worker_moves_the_others(sqlite_url: str, tmp_path: Path) -> None:
    from datastrata.core.config import Settings
    from datastrata.runtime import Runtime
    from datastrata.runtime.health import report
    from datastrata.tiering.job import install

    clock = FrozenClock(NOW)
    runtime = Runtime.open(Settings(store=sqlite_url, objects=f"file://{tmp_path}/objects"), clock=clock)
    create_readings(runtime.db)
    with runtime.db.transaction() as tx:
        tx.execute("CREATE TABLE spare_readings AS SELECT * FROM readings")
        tx.execute("UPDATE readings SET value = 'n/a'")  # no part of readings fits a double column now
    job = install(runtime, parse_policy(with_spare(ICEBERG)), every=timedelta(hours=6))
    job.mover.iceberg.catalog().create_namespace_if_not_exists("fab")
    import pyarrow as pa

    schema = pa.schema([("sensor", pa.string()), ("ts", pa.timestamp("us", tz="UTC")), ("value", pa.float64())])
    job.mover.iceberg.catalog().create_table("fab.readings", schema=schema)
    assert report(runtime).status == "ok"
    while runtime.run_once():
        pass
    assert len(job.mover.cold_parts("spare")) == 4
    assert len(job.mover.cold_parts("readings")) == 1  # the first day moved, its table refused it: no more follow
    health = report(runtime)
    assert health.status == "degraded" and "readings" in health.checks[job.name]
    assert all(f["state"] == "running" for f in health.followers)  # the job itself did not fail
    runtime.close()


def test_a_part_frozen_on_its_move_is_registered_once_restored(sqlite_url: str, tmp_path: Path) -> None:
    db = open_database(sqlite_url)
    create_readings(db)
    frozen = copy.deepcopy(ICEBERG)
    frozen["datasets"]["readings"]["rules"] = [{"after": "3d", "to": "frozen"}, {"after": "10d", "to": "expired"}]
    frozen["queries"] = []
    mover, clock = mover_of(db, f"file://{tmp_path}/objects", frozen)
    mover.run(plan(mover.policy, mover.inventory(), NOW))
    keys = mover.cold_keys("readings")
    assert len(keys) == 4
    (shown,) = [mover.iceberg.describe(ds, keys) for ds in mover.policy.datasets.values()]
    assert shown["exists"] is False and shown["pending"] == keys  # archived: its footer cannot be read yet
    mover.objects.restore(keys[0], tier="expedited", days=1)
    clock.advance(timedelta(minutes=10))
    mover.register()
    (shown,) = [mover.iceberg.describe(ds, keys) for ds in mover.policy.datasets.values()]
    assert len(shown["files"]) == 1 and shown["pending"] == keys[1:]  # type: ignore[arg-type]
    db.close()


def test_a_day_whose_column_is_all_null_is_registered_with_the_declared_type(db: Database, tmp_path: Path) -> None:
    create_readings(db)
    with db.transaction() as tx:
        tx.execute("ALTER TABLE readings ADD COLUMN unit TEXT")
        tx.execute("ALTER TABLE readings ADD COLUMN level INTEGER")
        tx.execute(
            "UPDATE readings SET unit = 'C', level = 2 WHERE ts < ?", (time_to_db(tx.dialect, NOW - timedelta(days=6)),)
        )
    mover, _ = mover_of(db, f"file://{tmp_path}/objects")
    assert len(mover.run(plan(mover.policy, mover.inventory(), NOW))) == 4
    table = mover.iceberg.catalog().load_table("fab.readings")
    assert str(table.schema().find_field("unit").field_type) == "string"
    assert str(table.schema().find_field("level").field_type) == "long"
    read = table.scan().to_arrow()
    assert rows_of(read) == cold_rows(mover) and set(read.column("unit").to_pylist()) == {"C", None}


def test_files_expired_behind_the_tables_back_leave_it_on_the_next_run(sqlite_url: str, tmp_path: Path) -> None:
    db = open_database(sqlite_url)
    create_readings(db)
    mover, clock = mover_of(db, f"file://{tmp_path}/objects")
    mover.run(plan(mover.policy, mover.inventory(), NOW))
    clock.set(NOW + timedelta(days=8))
    blind, _ = mover_of(db, f"file://{tmp_path}/objects", POLICY)  # a run that does not know the table
    blind.clock = clock
    expired = [r for r in blind.run(plan(blind.policy, blind.inventory(), clock())) if r.from_tier == "cold"]
    assert expired and not any(mover.objects.exists(r.location) for r in expired)
    stale = mover.iceberg.catalog().load_table("fab.readings").scan().plan_files()
    assert {t.file.file_path for t in stale} >= {mover.iceberg.uri(r.location) for r in expired}
    mover.run(plan(mover.policy, mover.inventory(), clock()))  # its start makes the table match the audit again
    assert scanned(mover) == cold_rows(mover)
    db.close()
