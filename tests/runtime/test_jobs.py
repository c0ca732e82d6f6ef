"""Jobs: rebuilds as background jobs with state and progress in the home store; ``POST /rebuild/{name}``."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datastrata.api.app import create_app
from datastrata.cli import app as cli_app
from datastrata.core.config import Settings
from datastrata.core.errors import ConcurrencyConflict, NotFound
from datastrata.runtime.jobs import FAILED, INTERRUPTED, QUEUED, RUNNING, SUCCEEDED, Jobs
from datastrata.stores.open import open_database
from datastrata.systems.match import simulate
from datastrata.systems.match.service import MatchService
from tests.conftest import ApiClient


def wait_until(done: Callable[[], bool]) -> None:
    """Poll `done` until it holds (bounded by a generous deadline; no timing is asserted)."""
    deadline = time.monotonic() + 60
    while not done():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.01)


def test_a_job_walks_queued_running_succeeded_with_progress_readable_from_another_connection(
    store_url: str,
) -> None:
    jobs = Jobs(open_database(store_url))
    started, release = threading.Event(), threading.Event()

    def work(progress: Callable[[int, int], None]) -> dict[str, int]:
        progress(5, 10)
        started.set()
        release.wait(60)
        progress(10, 10)
        return {"applied": 10}

    job = jobs.submit("rebuild", "demo", work)
    assert job.state == QUEUED
    started.wait(60)
    other = Jobs(open_database(store_url))  # another process's view: the record in the store
    running = other.get(job.id)
    assert running.state == RUNNING and (running.position, running.goal) == (5, 10) and running.started_at
    release.set()
    jobs.threads[job.id].join(60)
    done = other.get(job.id)
    assert done.state == SUCCEEDED and done.result == {"applied": 10} and done.finished_at and done.error is None
    assert done.to_dict()["progress"] == {"position": 10, "target": 10}

    def broken(progress: Callable[[int, int], None]) -> None:
        raise ValueError("the disk is on fire")

    failed = jobs.run(jobs.create("rebuild", "demo"), broken)
    assert failed.state == FAILED and failed.error is not None and "on fire" in failed.error
    with pytest.raises(NotFound, match="no job"):
        jobs.get("nope")


def test_post_rebuild_answers_202_and_get_jobs_reports_it_to_success(tmp_path: Path, api_client: ApiClient) -> None:
    settings = Settings(store=f"sqlite:///{tmp_path / 'j.db'}", graph=f"ladybug:///{tmp_path / 'graph'}")
    with api_client(create_app(settings)) as http:
        runtime = http.app.state.runtime  # type: ignore[attr-defined]
        svc: MatchService = runtime.service("match", MatchService)
        simulate.play(svc, matches=1, seed=1)
        before = svc.news(catch_up=True)["alerts"]
        answer = http.post("/rebuild/match.news")
        assert answer.status_code == 202, answer.text
        body = answer.json()
        assert answer.headers["location"] == f"/jobs/{body['id']}"
        assert body["state"] == "queued" and body["kind"] == "rebuild" and body["target"] == "match.news"
        states = [body["state"]]

        def finished() -> bool:
            found = http.get(answer.headers["location"])
            assert found.status_code == 200
            if found.json()["state"] != states[-1]:
                states.append(found.json()["state"])
            return found.json()["state"] in (SUCCEEDED, FAILED)

        wait_until(finished)
        assert states[0] == QUEUED and states[-1] == SUCCEEDED and set(states) <= {QUEUED, RUNNING, SUCCEEDED}
        job = http.get(answer.headers["location"]).json()
        assert job["progress"]["position"] == job["progress"]["target"] > 0 and job["result"]["applied"] > 0
        assert svc.news()["alerts"] == before  # the rebuilt slot answers the same
        assert http.get("/jobs").json()["items"][0]["id"] == body["id"]
        assert http.get("/jobs/unknown-id").status_code == 404
        assert http.post("/rebuild/no.such").status_code == 404
    with api_client(create_app(settings, worker=False), role="editor") as http:
        assert http.post("/rebuild/match.news").status_code == 403  # an operator action: admin only


_CHILD = """
import sys, time
from datastrata.runtime.jobs import Jobs
from datastrata.stores.open import open_database

jobs = Jobs(open_database(sys.argv[1]))

def work(progress):
    progress(3, 10)
    time.sleep(600)

job = jobs.submit("rebuild", "killed.demo", work)
print(job.id, flush=True)
jobs.threads[job.id].join()
"""


def test_a_job_whose_process_was_killed_reads_interrupted_and_can_be_submitted_again(store_url: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", _CHILD, store_url], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        job_id = child.stdout.readline().strip()
        jobs = Jobs(open_database(store_url))
        wait_until(lambda: jobs.get(job_id).position == 3)
        alive = jobs.get(job_id)
        assert alive.state == RUNNING and alive.owner == f"{socket.gethostname()}:{child.pid}"
        with pytest.raises(ConcurrencyConflict, match=f"already running \\(job {job_id}"):
            jobs.create("rebuild", "killed.demo")  # a live owner in another process: refused
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(60)
    seen = jobs.get(job_id)
    assert seen.state == INTERRUPTED and seen.finished
    assert seen.error is not None and f"process {socket.gethostname()}:{child.pid} is gone" in seen.error
    assert seen.to_dict()["state"] == "interrupted"
    shown = CliRunner().invoke(cli_app, ["--store", store_url, "jobs", "show", job_id, "--json"])
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)[0]["state"] == "interrupted"
    listed = CliRunner().invoke(cli_app, ["--store", store_url, "jobs", "list"])
    assert listed.exit_code == 0 and "interrupted" in listed.stdout and "is gone" in listed.stdout
    again = jobs.run(jobs.create("rebuild", "killed.demo"), lambda progress: {"applied": 0})
    assert again.state == SUCCEEDED
    recorded = jobs.get(job_id)  # the resubmission recorded the interruption for good
    assert recorded.state == INTERRUPTED and recorded.finished_at is not None


def test_a_job_whose_owner_stopped_renewing_its_lease_reads_interrupted(sqlite_url: str) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    jobs = Jobs(open_database(sqlite_url), clock=lambda: now[0], lease=30)
    job = jobs.create("rebuild", "leased")
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as conn:  # an owner on another host
        conn.execute("UPDATE jobs SET owner = 'elsewhere:1', state = 'running' WHERE id = ?", (job.id,))
    assert jobs.get(job.id).state == RUNNING
    now[0] += timedelta(seconds=31)
    late = jobs.get(job.id)
    assert late.state == INTERRUPTED and late.error is not None and "has not renewed its lease" in late.error


def test_http_rebuilds_and_verifies_declare_202_with_the_job_resource(tmp_path: Path) -> None:
    settings = Settings(store=f"sqlite:///{tmp_path / 'o.db'}", graph=f"ladybug:///{tmp_path / 'graph'}")
    spec = create_app(settings, worker=False).openapi()
    for path in ("/match/rebuild", "/masterdata/verify", "/rebuild/{name}"):
        responses = spec["paths"][path]["post"]["responses"]
        assert "202" in responses and "200" not in responses, path
        assert responses["202"]["content"]["application/json"]["schema"]["$ref"].endswith("/JobOut")
    assert "cursor" in {p["name"] for p in spec["paths"]["/jobs"]["get"]["parameters"]}
    assert "cursor" in {p["name"] for p in spec["paths"]["/deadletters"]["get"]["parameters"]}
