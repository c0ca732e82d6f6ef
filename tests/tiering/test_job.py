"""Tiering as a supervised worker job: bounded rounds, planning when due, failures kept in its boundary."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml
from typer.testing import CliRunner

from datastrata.cli import app
from datastrata.core.clock import FrozenClock, system_clock
from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.tiering.job import install
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.plan import plan
from datastrata.tiering.policy import parse_policy
from tests.tiering.rowdata import NOW, POLICY, create_readings


def test_the_job_moves_a_batch_per_round_and_plans_when_due(store_url: str, tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    runtime = Runtime.open(Settings(store=store_url, objects=f"file://{tmp_path}/objects"), clock=clock)
    create_readings(runtime.db)
    job = install(runtime, parse_policy(POLICY), every=timedelta(hours=6))
    job.batch = 3
    assert runtime.run_once() == 3  # the plan has 4 moves: 3 this round
    assert runtime.run_once() == 1
    assert runtime.run_once() == 0  # used up, and the next plan is not due yet
    clock.advance(timedelta(days=1))
    assert runtime.run_once() == 1  # due: planned again, and one more day has aged
    assert [r.item for r in job.mover.records()][-1] == "2026-11-28"
    status = next(s for s in runtime.statuses() if s.name == "tiering:test")
    assert status.state == "running"
    runtime.close()


def test_a_failing_move_stays_in_its_boundary_and_the_next_plan_finishes(store_url: str, tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    blocked = tmp_path / "objects"
    blocked.write_text("not a folder")  # the object store cannot be written
    runtime = Runtime.open(Settings(store=store_url, objects=f"file://{tmp_path}/elsewhere"), clock=clock)
    create_readings(runtime.db)
    job = install(runtime, parse_policy(POLICY))
    job.mover.objects.root = str(blocked)  # every write now fails with a real filesystem error
    assert runtime.run_once() == 0
    status = next(s for s in runtime.statuses() if s.name == "tiering:test")
    assert status.state != "running" and status.last_error
    job.mover.objects.root = str(tmp_path / "elsewhere")
    runtime.supervisor.boundaries["tiering:test"].retry_at = 0.0
    assert runtime.run_once() == 4  # planned again: everything moves, nothing was half-moved
    runtime.close()


def test_worker_once_runs_a_tiering_policy(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/w.db"
    runtime = Runtime.open(Settings(store=store))
    create_readings(runtime.db)
    objects = ObjectStore(runtime.settings.objects)
    due = plan(parse_policy(POLICY), Mover(runtime.db, objects, parse_policy(POLICY)).inventory(), system_clock())
    runtime.close()
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({**POLICY, "queries": []}))
    result = CliRunner().invoke(app, ["worker", "--once", "--tiering", str(policy)], env={"DATASTRATA_STORE": store})
    assert result.exit_code == 0, result.stderr
    runtime = Runtime.open(Settings(store=store))
    with runtime.db.read() as tx:
        assert tx.scalar("SELECT count(*) FROM tiering_moves") == len(due.moves) > 0
    runtime.close()
