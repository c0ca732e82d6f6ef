"""The root shell: tour, worker, lag and rebuild, on embedded stores."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from datastrata.cli import app
from datastrata.testing.servers import free_port

runner = CliRunner()


def test_tour_runs_the_seed_story() -> None:
    result = runner.invoke(app, ["tour"])
    assert result.exit_code == 0, result.stderr
    assert "cash   4040.00" in result.stdout and "Time travel" in result.stdout


def test_worker_lag_and_rebuild(sqlite_url: str) -> None:
    base = ["--store", sqlite_url]
    runner.invoke(app, [*base, "portfolio", "deposit", "p1", "100"])
    runner.invoke(app, [*base, "portfolio", "buy", "p1", "X", "1", "1"])
    lag = json.loads(runner.invoke(app, [*base, "lag", "--json"]).stdout)
    behind = {row["name"]: row["behind"] for row in lag}
    # the graph projection is listed too, but `lag` leaves its file to its owner (the worker or serve)
    assert behind["portfolio.holders"] == 2 and "food.graph" in behind and behind["food.graph"] is None
    relays = [name for name in behind if name.startswith("relay:memory:")]  # one per in-process consumer
    assert relays and all(behind[name] == 2 for name in relays)
    drained = runner.invoke(app, [*base, "worker", "--once"])
    assert drained.exit_code == 0, drained.stderr
    lag = json.loads(runner.invoke(app, [*base, "lag", "--json"]).stdout)
    assert all(row["behind"] == 0 for row in lag if row["opened"])
    assert json.loads(runner.invoke(app, [*base, "food", "lag", "--json"]).stdout)["behind"] == 0
    rebuilt = runner.invoke(app, [*base, "rebuild", "portfolio.holders"])
    assert rebuilt.exit_code == 0 and "applied 1 events" in rebuilt.stdout
    graph = runner.invoke(app, [*base, "rebuild", "food.graph"])
    assert graph.exit_code == 0 and "food.graph: applied 0 events" in graph.stdout, graph.stderr
    unknown = runner.invoke(app, [*base, "rebuild", "nope"])
    assert unknown.exit_code == 2 and "no projection named 'nope'" in unknown.stderr


def test_serve_answers_http_and_runs_the_worker(tmp_path: Path) -> None:
    port = free_port()
    store = f"sqlite:///{tmp_path / 'served.db'}"
    created = runner.invoke(app, ["--store", store, "keys", "create", "--role", "editor", "--json"])
    assert created.exit_code == 0, created.stderr
    key = {"Authorization": f"Bearer {json.loads(created.stdout)['key']}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "datastrata", "--store", store, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/health", timeout=0.5)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        assert httpx.post(f"{base}/portfolios/p1/deposits", json={"amount": "50"}).status_code == 401
        assert httpx.post(f"{base}/portfolios/p1/deposits", json={"amount": "50"}, headers=key).status_code == 201
        deadline = time.monotonic() + 10
        while any(lag["behind"] for lag in httpx.get(f"{base}/health").json()["lags"]):
            assert time.monotonic() < deadline, "the background worker did not catch up"
            time.sleep(0.05)
        assert "/portfolios/{portfolio_id}" in httpx.get(f"{base}/openapi.json").json()["paths"]
        owner = json.loads((tmp_path / "served.graph.owner").read_text())
        assert owner["pid"] == proc.pid  # serve runs the worker, so it owns the graph beside the store
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_bench_refuses_an_unknown_benchmark_and_lists_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).parents[1])
    unknown = runner.invoke(app, ["bench", "nope"])
    assert unknown.exit_code == 2 and "known:" in unknown.stderr and "design" in unknown.stderr
