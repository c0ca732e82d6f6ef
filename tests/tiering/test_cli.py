"""`datastrata tiering plan|run|cost` on a real store and object folder; a bad policy is refused by field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from datastrata.cli import app
from datastrata.runtime.jobs import Jobs
from datastrata.stores.database import time_to_db
from datastrata.stores.open import open_database
from tests.tiering.rowdata import POLICY

runner = CliRunner()


def ok(env: dict[str, str], *args: str) -> Any:
    result = runner.invoke(app, ["tiering", *args, "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_plan_run_and_cost_through_the_shell(store_url: str, tmp_path: Path) -> None:
    db = open_database(store_url)
    kind = "TEXT" if db.dialect == "sqlite" else "TIMESTAMPTZ"
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with db.transaction() as tx:
        tx.run_script(f"CREATE TABLE readings (sensor TEXT NOT NULL, ts {kind} NOT NULL, value DOUBLE PRECISION)")
        tx.executemany(
            "INSERT INTO readings (sensor, ts, value) VALUES (?, ?, ?)",
            [
                ("s1", time_to_db(tx.dialect, today - timedelta(days=d, hours=h)), float(h))
                for d in range(7)
                for h in range(3)
            ],
        )
    db.close()
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    env = {"DATASTRATA_STORE": store_url, "DATASTRATA_OBJECTS": f"file://{tmp_path}/objects"}
    planned = ok(env, "plan", str(policy))
    assert planned["moves"] and all(m["to"] == "cold" and "after 3d" in m["rule"] for m in planned["moves"])
    cost = ok(env, "cost", str(policy))
    assert set(cost) >= {"as_placed_per_month", "all_hot_per_month", "proposed_per_month", "one_off"}
    ran = ok(env, "run", str(policy))
    assert [r["item"] for r in ran["moved"]] == [m["key"] for m in planned["moves"]]
    db = open_database(store_url)
    job = Jobs(db).get(ran["job"])  # the run is a recorded job: GET /jobs/{id} shows its state and progress
    assert (job.kind, job.state, job.position, job.goal) == ("tiering", "succeeded", 4, 4)
    db.close()
    assert ok(env, "plan", str(policy))["moves"] == []
    text = runner.invoke(app, ["tiering", "plan", str(policy)], env=env)
    assert text.exit_code == 0 and "0 move(s)" in text.stdout


def test_a_refused_policy_names_the_field_and_writes_nothing(tmp_path: Path) -> None:
    bad = {**POLICY, "queries": [{"name": "raw", "dataset": "readings", "covers": "60d"}]}
    policy = tmp_path / "bad.json"
    policy.write_text(json.dumps(bad))
    result = runner.invoke(app, ["tiering", "run", str(policy)], env={"DATASTRATA_STORE": f"sqlite:///{tmp_path}/s.db"})
    assert result.exit_code == 2
    assert "datasets.readings.rules[1]" in result.stderr and "must keep answering 60d" in result.stderr
    assert not (tmp_path / "s.db").exists()


def test_a_policy_naming_a_missing_table_says_which(store_url: str, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    env = {"DATASTRATA_STORE": store_url, "DATASTRATA_OBJECTS": f"file://{tmp_path}/objects"}
    result = runner.invoke(app, ["tiering", "plan", str(policy)], env=env)
    assert result.exit_code == 2
    assert "no table 'readings'" in result.stderr and "Traceback" not in result.stderr


def test_every_tiering_command_has_help() -> None:
    for command in ("plan", "run", "cost", "iceberg"):
        result = runner.invoke(app, ["tiering", command, "--help"])
        assert result.exit_code == 0 and "policy file" in result.stdout.lower()


def test_plan_and_run_move_closed_streams_once_the_projections_have_passed_them(store_url: str, tmp_path: Path) -> None:
    from datastrata.core.clock import FrozenClock
    from datastrata.core.events import NewEvent
    from datastrata.eventlog.archive import LazyObjects
    from datastrata.eventlog.log import EventLog
    from datastrata.eventlog.snapshots import SnapshotStore

    db = open_database(store_url)
    clock = FrozenClock(datetime.now(UTC) - timedelta(days=40))
    log = EventLog(db, clock=clock)
    for p in ("p1", "p2"):
        log.append(f"portfolio-{p}", [NewEvent("CASH_DEPOSITED", {"amount": "100"})])
        log.append(f"portfolio-{p}", [NewEvent("STOCK_BOUGHT", {"symbol": "ACME", "quantity": "2", "price": "10"})])
    before = log.read("portfolio-p1")
    policy = tmp_path / "segments.yaml"
    portfolios = {"kind": "segments", "streams": "portfolio-", "snapshot": "portfolio"}
    rules = [{"after": "30d", "to": "cold"}]
    policy.write_text(yaml.safe_dump({"name": "closed", "datasets": {"portfolios": {**portfolios, "rules": rules}}}))
    env = {"DATASTRATA_STORE": store_url, "DATASTRATA_OBJECTS": f"file://{tmp_path}/objects"}
    planned = ok(env, "plan", str(policy))
    assert planned["moves"] == [] and sorted(h["key"] for h in planned["held"]) == ["portfolio-p1", "portfolio-p2"]
    assert all("kept: follower 'relay' is at position 0" in h["reason"] for h in planned["held"])  # not published
    text = runner.invoke(app, ["tiering", "plan", str(policy)], env=env)
    assert text.exit_code == 0 and "hold portfolios portfolio-p1: kept: follower 'relay'" in text.stdout
    drained = runner.invoke(app, ["worker", "--once"], env=env)  # the projections catch up
    assert drained.exit_code == 0, drained.stderr
    planned = ok(env, "plan", str(policy))
    assert not planned["held"] and [m["key"] for m in planned["moves"]] == ["portfolio-p1", "portfolio-p2"]
    assert planned["moves"][0]["reason"] == "no event for 40d ≥ 30d"
    ran = ok(env, "run", str(policy))
    assert [r["item"] for r in ran["moved"]] == ["portfolio-p1", "portfolio-p2"]
    log.objects = LazyObjects(env["DATASTRATA_OBJECTS"], clock=clock)
    assert log.read("portfolio-p1") == before
    snapshot = SnapshotStore(db).load("portfolio-p1")  # the portfolio aggregate's own snapshot, at its last version
    assert snapshot is not None and snapshot.version == 2 and snapshot.state["holdings"] == {"ACME": "2"}
    db.close()


def test_restore_restores_and_query_through_the_shell(sqlite_url: str, tmp_path: Path) -> None:
    db = open_database(sqlite_url)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with db.transaction() as tx:
        tx.run_script("CREATE TABLE readings (sensor TEXT NOT NULL, ts TEXT NOT NULL, value DOUBLE PRECISION)")
        tx.executemany(
            "INSERT INTO readings (sensor, ts, value) VALUES (?, ?, ?)",
            [
                (f"s{h % 2}", time_to_db(tx.dialect, today - timedelta(days=d, hours=h)), float(h))
                for d in range(9)
                for h in range(4)
            ],
        )
    db.close()
    data = {**POLICY, "queries": [{"name": "recent", "dataset": "readings", "covers": "5d"}]}
    data["datasets"] = {
        "readings": {
            **POLICY["datasets"]["readings"],  # type: ignore[index]
            "rules": [{"after": "3d", "to": "cold"}, {"after": "5d", "to": "frozen"}],
        }
    }
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(data))
    env = {"DATASTRATA_STORE": sqlite_url, "DATASTRATA_OBJECTS": f"file://{tmp_path}/objects"}
    ok(env, "run", str(policy))
    old = (today - timedelta(days=8)).isoformat()
    refused = runner.invoke(
        app, ["tiering", "query", str(policy), "readings", "--from", old, "--to", today.isoformat()], env=env
    )
    assert refused.exit_code == 2 and "datastrata tiering restore" in refused.stderr
    asked = ok(env, "restore", str(policy), "readings", "--from", old, "--to", today.isoformat(), "--tier", "expedited")
    ready = datetime.fromisoformat(asked["ready_at"]) - datetime.fromisoformat(asked["requested_at"])
    assert (
        timedelta(minutes=5) <= ready < timedelta(minutes=6)
        and asked["state"] == "restoring"
        and asked["location"] == f"/jobs/{asked['job']}"
    )
    assert ok(env, "run", str(policy))["restores_completed"] == []  # not ready for another 5 minutes
    listed = ok(env, "restores")["restores"]
    assert [r["job"] for r in listed] == [asked["job"]] and listed[0]["items"] == asked["items"]
    recent = (today - timedelta(days=2)).isoformat()
    rows = ok(
        env,
        "query",
        str(policy),
        "readings",
        "--from",
        recent,
        "--to",
        today.isoformat(),
        "--where",
        "sensor=s1",
        "--agg",
        "1d",
    )["rows"]
    assert [r["count"] for r in rows] == [2, 2] and all(r["min"] == 1.0 and r["max"] == 3.0 for r in rows)
    bad = runner.invoke(
        app,
        ["tiering", "restore", str(policy), "readings", "--from", old, "--to", today.isoformat(), "--tier", "fast"],
        env=env,
    )
    assert bad.exit_code == 2 and "tier must be one of" in bad.stderr


def test_run_exits_2_naming_a_blocked_dataset_after_moving_the_others(sqlite_url: str, tmp_path: Path) -> None:
    import pyarrow as pa

    from datastrata.tiering.iceberg import IcebergTables
    from datastrata.tiering.objects import ObjectStore
    from tests.tiering.rowdata import ICEBERG_POLICY, create_readings

    db = open_database(sqlite_url)
    create_readings(db, seed=3)
    with db.transaction() as tx:
        tx.execute("CREATE TABLE spare_readings AS SELECT * FROM readings")
        tx.execute("UPDATE readings SET value = 'n/a'")  # text, where the Iceberg table holds a double
    catalog = IcebergTables(db, ObjectStore(f"file://{tmp_path}/objects")).catalog()
    catalog.create_namespace_if_not_exists("fab")
    schema = pa.schema([("sensor", pa.string()), ("ts", pa.timestamp("us", tz="UTC")), ("value", pa.float64())])
    catalog.create_table("fab.readings", schema=schema)
    db.close()
    both = {**ICEBERG_POLICY, "datasets": {**ICEBERG_POLICY["datasets"]}}  # type: ignore[dict-item]
    both["datasets"]["spare"] = {**POLICY["datasets"]["readings"], "table": "spare_readings"}  # type: ignore[index]
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(both))
    env = {"DATASTRATA_STORE": sqlite_url, "DATASTRATA_OBJECTS": f"file://{tmp_path}/objects"}
    result = runner.invoke(app, ["tiering", "run", str(policy), "--json"], env=env)
    assert result.exit_code == 2
    ran = json.loads(result.stdout)
    assert [b["dataset"] for b in ran["blocked"]] == ["readings"] and "keep each column's type" in ran["blocked"][0][
        "reason"
    ]
    assert {r["dataset"] for r in ran["moved"]} == {"readings", "spare"}  # spare moved every day; readings stopped
    assert sum(r["dataset"] == "readings" for r in ran["moved"]) == 1
    text = runner.invoke(app, ["tiering", "run", str(policy)], env=env)
    assert text.exit_code == 2 and "blocked readings:" in text.stdout
