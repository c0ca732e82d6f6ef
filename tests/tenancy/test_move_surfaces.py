"""The move's surfaces: `start_move` as a job, `move_status`, `reverse_move`; the CLI and `/tenants/{id}/moves`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datastrata.cli import app as cli
from datastrata.core.config import Settings
from datastrata.core.errors import NotFound, ValidationError
from datastrata.runtime import LocationSpec, Runtime
from datastrata.runtime.jobs import Job, jobs_of
from datastrata.runtime.moves import COMPLETED, REVERSED, Plan
from datastrata.tenancy.models import PROVISIONERS
from datastrata.tenancy.move import move_status, reverse_move, start_move
from tests.conftest import ApiClient
from tests.tenancy.moving import fill, open_runtime, values

ROWS = 1_200


class _OwnFile:
    """The dedicated model's place for acme in this test: the second store, already migrated."""

    def __init__(self, spec: LocationSpec) -> None:
        self.spec = spec

    def provision(self, runtime: Runtime, tenant: str, *, store: str | None = None) -> LocationSpec | None:
        return self.spec

    def destroy(self, runtime: Runtime, tenant: str, spec: LocationSpec | None) -> None:
        pass


def _finished(runtime: Runtime, job: Job) -> Job:
    deadline = time.monotonic() + 60
    while not (found := jobs_of(runtime).get(job.id)).finished:
        assert time.monotonic() < deadline, found
        time.sleep(0.02)
    return found


def test_start_move_plans_runs_as_a_job_and_reports_its_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime, places = open_runtime(f"sqlite:///{tmp_path}/s.db", f"sqlite:///{tmp_path}/t.db", str(tmp_path))
    monkeypatch.setitem(PROVISIONERS, "dedicated-storage", _OwnFile(places.specs["acme-own"]))
    fill(runtime.db, "acme", ROWS)
    with runtime:
        plan = start_move(runtime, "acme", "dedicated-storage", dry_run=True)
        assert isinstance(plan, Plan) and plan.tables["movetest_items"] == ROWS and plan.target == "dedicated-storage"
        with pytest.raises(ValidationError, match="to: tenant acme is already in the shared model"):
            start_move(runtime, "acme", "shared")
        with pytest.raises(ValidationError, match="to: the model must be one of"):
            start_move(runtime, "acme", "silo")
        job = start_move(runtime, "acme", "dedicated-storage", grace=0)
        assert isinstance(job, Job)
        done = _finished(runtime, job)
        assert done.state == "succeeded", done.error
        assert done.result["state"] == COMPLETED and done.position == ROWS
        [move] = move_status(runtime, "acme")
        assert move.state == COMPLETED and move.target["model"] == "dedicated-storage"
        assert len(values(runtime.location(places.specs["acme-own"]).db, "acme")) == ROWS
        assert places.placement("acme").model == "dedicated-storage"

        # ... and back to the shared model, reversed after its switch: acme ends up where it was
        back = start_move(runtime, "acme", "shared", grace=3600)
        assert isinstance(back, Job)
        deadline = time.monotonic() + 60
        while move_status(runtime, "acme")[0].state != "switched":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        undo = reverse_move(runtime, "acme", foreground=True, grace=0)
        assert isinstance(undo, Job) and undo.state == "succeeded", undo.error
        newest, reversed_, _ = move_status(runtime, "acme")
        assert newest.state == COMPLETED and reversed_.state == REVERSED
        assert places.placement("acme").model == "dedicated-storage"
        with pytest.raises(NotFound, match="no running or switched move"):
            reverse_move(runtime, "acme")


def test_the_cli_plans_a_move_and_shows_its_status(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/cli.db"
    runner = CliRunner()
    planned = runner.invoke(
        cli, ["--store", store, "tenants", "move", "default", "--to", "dedicated-storage", "--dry-run", "--json"]
    )
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.output)
    assert plan["subject"] == "default" and plan["target"] == "dedicated-storage" and plan["rows"] == 0
    refused = runner.invoke(cli, ["--store", store, "tenants", "move", "default", "--to", "dedicated-storage"])
    assert refused.exit_code != 0 and "not in the tenant catalogue" in refused.output
    status = runner.invoke(cli, ["--store", store, "tenants", "move-status", "default", "--json"])
    assert status.exit_code == 0 and json.loads(status.output) == []
    unknown = runner.invoke(cli, ["--store", store, "tenants", "move-status", "nobody"])
    assert unknown.exit_code != 0 and "nobody" in unknown.output


def test_http_moves_plan_refuse_and_list(tmp_path: Path, api_client: ApiClient) -> None:
    from datastrata.api.app import create_app

    app = create_app(Settings(store=f"sqlite:///{tmp_path}/api.db", graph=f"ladybug:///{tmp_path}/g"), worker=False)
    with api_client(app) as http:
        planned = http.post("/tenants/default/moves", json={"to": "dedicated-storage", "dry_run": True})
        assert planned.status_code == 200 and planned.json()["target"] == "dedicated-storage"
        refused = http.post("/tenants/default/moves", json={"to": "dedicated-storage"})
        assert refused.status_code == 409 and "catalogue" in refused.json()["detail"]
        bad = http.post("/tenants/default/moves", json={"to": "elsewhere"})
        assert bad.status_code == 422 and bad.json()["field"] == "to"
        assert http.get("/tenants/nobody/moves").status_code == 404
        assert http.get("/tenants/default/moves").json() == []
    with api_client(app, role="editor") as http:
        assert http.post("/tenants/default/moves", json={"to": "shared", "dry_run": True}).status_code == 403


def test_a_moves_status_never_shows_a_store_password() -> None:
    from datastrata.runtime.moves import Move

    spec = {"name": "acme", "store": "postgresql://owner:s3cret@db.example/acme", "graph": "", "objects": ""}
    move = Move(
        "m1",
        "tenant",
        "acme",
        {"model": "shared"},
        {"model": "dedicated-infrastructure", "spec": spec},
        "copy",
        "running",
    )
    shown = json.dumps(move.to_dict())
    assert "s3cret" not in shown and "db.example/acme" in shown
