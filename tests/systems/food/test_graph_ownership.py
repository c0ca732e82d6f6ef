"""One process owns a graph file; the others say who in one line, and what does not need the graph never opens it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datastrata.cli import app
from datastrata.graph.ownership import owner, owner_file

runner = CliRunner()


def _wait_for(condition: object, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not callable(condition) or not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A SQLite store with one user; its graph lives beside it (tmp_path/shop.graph)."""
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    added = runner.invoke(app, ["--store", url, "food", "user", "add", "A", "--lat", "35.6", "--lon", "139.7"])
    assert added.exit_code == 0, added.stderr
    return url


def test_a_second_process_is_told_who_owns_the_graph(store: str, tmp_path: Path) -> None:
    graph = tmp_path / "shop.graph"
    assert runner.invoke(app, ["--store", store, "lag"]).exit_code == 0
    assert not graph.exists()  # neither a food write nor `lag` needs the graph, so neither opened it
    worker = subprocess.Popen(
        [sys.executable, "-m", "datastrata", "--store", store, "worker"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: (owner(graph) or {}).get("pid") == worker.pid, "the worker to own the graph")
        refused = runner.invoke(app, ["--store", store, "food", "recommend", "A"])
        assert refused.exit_code == 1
        (line,) = refused.stderr.strip().splitlines()  # one line, no LadybugDB trace
        assert f"owned by process {worker.pid} (datastrata --store" in line and "worker)" in line
        assert "over HTTP" in line
        # Commands that do not need the graph go on while it is owned.
        lag = runner.invoke(app, ["--store", store, "lag", "--json"])
        assert lag.exit_code == 0, lag.stderr
        assert {r["name"]: r["opened"] for r in json.loads(lag.stdout)}["food.graph"] is False
        for command in (
            ["portfolio", "deposit", "p1", "10"],
            ["rebuild", "portfolio.holders"],
            ["worker", "--once", "--system", "portfolio"],
            ["food", "user", "add", "B", "--lat", "1", "--lon", "2"],
        ):
            done = runner.invoke(app, ["--store", store, *command])
            assert done.exit_code == 0, (command, done.stderr)
    finally:
        worker.send_signal(signal.SIGINT)  # Ctrl-C: the worker closes its runtime, releasing the graph
        worker.wait(timeout=30)
    assert worker.returncode == 0, worker.stderr.read() if worker.stderr else ""
    assert not owner_file(graph).exists()  # the owner let go
    served = runner.invoke(app, ["--store", store, "food", "recommend", "A", "--json"])
    assert served.exit_code == 0, served.stderr
    assert owner_file(graph).exists() is False  # released again when this command's runtime closed
