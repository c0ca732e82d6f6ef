"""benchmarks/serve_load.py against a live `datastrata serve`: wrk drives it, the JSON has its shape, no errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import _unavailable

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "serve_load.py"


def test_the_harness_drives_a_live_server_with_wrk_without_errors(tmp_path: Path) -> None:
    """A second per run at 2 connections, a command and a query route, the floor and a 2 s soak: JSON, zero errors."""
    if shutil.which("wrk") is None:
        _unavailable("wrk is not installed (apt-get install wrk); benchmarks/serve_load.py drives the server with it")
    command = [sys.executable, str(SCRIPT), "--seconds", "1", "--connections", "2"]
    command += ["--routes", "portfolio.deposit,masterdata.get", "--soak", "2"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)

    assert result["benchmark"] == "serve_load"
    runs = {(r["route"], r["connections"]): r for r in result["runs"]}
    assert set(runs) == {("floor.insert", 2), ("portfolio.deposit", 2), ("masterdata.get", 2)}
    for run in runs.values():
        assert run["requests"] > 0, run
        assert run["requests_per_s"] > 0 and 0 < run["p50_ms"] <= run["p99_ms"] <= run["max_ms"], run
        assert run["non_2xx"] == 0 and set(run["socket_errors"].values()) == {0}, run
        assert run["server_cpu_ms_per_request"] > 0, run
    goals = result["goals"]
    assert set(goals["command_vs_floor_at_2"]) == {"portfolio.deposit"}
    assert goals["errors"] == 0
    soak = result["soak"]
    assert soak["samples"] >= 2 and soak["non_2xx"] == 0, soak
    assert soak["rss_kib"]["end"] > 0 and soak["fds"]["end"] > 0, soak
    assert not list(tmp_path.iterdir()), "the harness removes its home"
