"""SIGKILL during a reshard (copy, catch-up, cut-over) with a writer going on: resuming loses and duplicates nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from datastrata.runtime import fences
from datastrata.runtime.moves import Journal
from datastrata.runtime.shardfences import get as fence_of
from datastrata.sharding.reshard import plan_add, reshard_status, run_reshard
from datastrata.sharding.slots import slot_of
from datastrata.testing.servers import create_database
from tests.sharding.resharding import MAP, Shards, Writer, assert_each_once, default_router, seed, sqlite_shards

ROOT = Path(__file__).parents[2]
CHILD = ROOT / "tests" / "sharding" / "reshard_child.py"
#: Enough rows that the first move copies in more than one batch (500 rows each).
ROWS = 4_000
FULL = os.environ.get("DATASTRATA_FULL") == "1"
#: Where a child is killed: a line it prints (copy: after its first batch; catch-up; cut-over: fenced, verifying).
KILLS = {"copy": "copied ", "catchup": "step 0 catchup", "cutover": "step 0 verify"}
#: The kill sequences run: each kills one child at each point in turn, then the test process resumes.
SEQUENCES = [list(KILLS)] + ([["copy"], ["catchup"], ["cutover"], ["cutover", "cutover"]] if FULL else [])


def _kill_when(shards: Shards, plan_file: Path, line: str) -> list[str]:
    """Run the reshard in a child and SIGKILL it once it prints a line starting with `line`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, str(CHILD), shards.home, json.dumps(shards.shards), str(plan_file)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        while not seen or not seen[-1].startswith(line):
            got = proc.stdout.readline()
            assert got, f"the child ended before {line!r}: {seen[-5:]}"
            seen.append(got.strip())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return seen


def _crash_and_resume(shards: Shards, folder: Path, kills: list[str]) -> None:
    shards.create_map(default_router(2))
    keys = [f"acct-{i}" for i in range(ROWS)]
    with shards.open() as runtime:
        seed(runtime, keys)
        plan = plan_add(runtime, MAP, 1)
        plan_file = folder / "plan.json"
        plan_file.write_text(json.dumps(plan.to_dict()))
        first = plan.moves[0]
        writer = Writer(runtime, keys[::7]).start()
        journal = Journal(runtime.platform.db)
        for kill in kills:
            seen = _kill_when(shards, plan_file, KILLS[kill])
            move = journal.current("shard", f"{MAP}:{plan.plan_id}:0")
            assert move is not None, seen[-3:]
            if kill == "copy":
                assert move.step == "copy" and 0 < move.cursors["copied"] < first.rows
            elif kill == "catchup":
                assert move.step == "catchup"
            else:  # killed while the range is fenced at its source: its writers wait, the rest go on
                moving = next(k for k in keys if first.range.holds(k))
                source = runtime.location(runtime.placement.shard(first.source))  # type: ignore[attr-defined]
                assert fence_of(source.db, MAP, moving, slot_of(moving)) == (fences.FENCED, 0)
            status = reshard_status(runtime, MAP)
            assert status is not None and status.state == "running"
        done = run_reshard(runtime, plan, grace=0.0)
        acked = writer.stop()
        assert not writer.errors, writer.errors
        assert done.state == "completed", done.to_dict()
        assert sum(acked.values()) > 0
        assert_each_once(runtime, keys, acked)


@pytest.mark.parametrize("kills", SEQUENCES, ids=["-".join(s) for s in SEQUENCES])
def test_a_killed_reshard_resumes_and_loses_nothing_on_sqlite(tmp_path: Path, kills: list[str]) -> None:
    _crash_and_resume(sqlite_shards(str(tmp_path), 3), tmp_path, kills)


@pytest.mark.parametrize("kills", [["cutover"], *([["copy"], ["catchup"]] if FULL else [])], ids=lambda k: k[0])
def test_a_killed_reshard_resumes_and_loses_nothing_on_postgresql(
    pg_server: str, pg_template: str, pg_url: str, tmp_path: Path, kills: list[str]
) -> None:
    base = pg_url.rsplit("/", 1)[1]
    urls = {f"s{i}": create_database(pg_server, f"{base}_s{i}", template=pg_template) for i in range(3)}
    _crash_and_resume(Shards(pg_url, urls), tmp_path, kills)
