"""The root shell: tour, worker, lag and rebuild, on embedded stores."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from datastrata.cli import app

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
    assert {row["name"]: row["behind"] for row in lag} == {"relay:memory": 2, "portfolio.holders": 2}
    drained = runner.invoke(app, [*base, "worker", "--once"])
    assert drained.exit_code == 0, drained.stderr
    lag = json.loads(runner.invoke(app, [*base, "lag", "--json"]).stdout)
    assert all(row["behind"] == 0 for row in lag)
    rebuilt = runner.invoke(app, [*base, "rebuild", "portfolio.holders"])
    assert rebuilt.exit_code == 0 and "applied 1 events" in rebuilt.stdout
    unknown = runner.invoke(app, [*base, "rebuild", "nope"])
    assert unknown.exit_code == 2 and "no projection named 'nope'" in unknown.stderr
