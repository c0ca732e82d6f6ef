"""SIGKILL during a move's copy and during its cut-over: resuming from the journal reaches the same end state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from datastrata.runtime import Runtime, fences
from datastrata.runtime.moves import COMPLETED, Journal
from datastrata.runtime.movetables import Selection, digest
from datastrata.testing.servers import create_database
from tests.tenancy.moving import StoredPlaces, fill, items_part, mover, open_runtime, values

ROOT = Path(__file__).parents[2]
CHILD = ROOT / "tests" / "crash_child.py"
ROWS = 3_000


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """A source and a target store of one engine, both migrated."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'target.db'}"
    source = request.getfixturevalue("pg_url")
    server, template = request.getfixturevalue("pg_server"), request.getfixturevalue("pg_template")
    return source, create_database(server, f"{source.rsplit('/', 1)[1]}_target", template=template)


def _kill_when(stores: tuple[str, str], folder: Path, line: str) -> list[str]:
    """Run the move in a child and SIGKILL it once it prints a line starting with `line`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, str(CHILD), "move", *stores, str(folder)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    seen: list[str] = []
    while not seen or not seen[-1].startswith(line):
        got = proc.stdout.readline()
        assert got, f"the child ended before {line!r}: {seen}"
        seen.append(got.strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return seen


def _prepared(stores: tuple[str, str], folder: Path) -> tuple[Runtime, StoredPlaces, str]:
    runtime, places = open_runtime(*stores, str(folder))
    fill(runtime.db, "acme", ROWS)
    fill(runtime.db, "beta", 20)
    part = next(p for p in items_part(runtime.db) if p.table == "movetest_items")
    return runtime, places, digest(runtime.db, part, Selection.tenant("acme")).sha256


@pytest.mark.sample("sqlite-during-cut-over", "postgresql-during-copy")  # the other two variants: make test-full
@pytest.mark.parametrize("kill_at", ["batch 1500", "step verify"], ids=["during-copy", "during-cut-over"])
def test_a_killed_move_resumes_to_the_same_end_state(stores: tuple[str, str], tmp_path: Path, kill_at: str) -> None:
    runtime, places, before = _prepared(stores, tmp_path)
    seen = _kill_when(stores, tmp_path, kill_at)
    journal = Journal(runtime.db)
    current = journal.current("tenant", "acme")
    assert current is not None
    if kill_at.startswith("batch"):
        assert current.step == "copy" and 0 < current.cursors["copied"] < ROWS
    else:
        assert "step fence" in seen and fences.get(runtime.db, "acme") == fences.FENCED  # killed while fenced
    done = mover(runtime, places, current).run()
    assert done.state == COMPLETED, done.error
    target = runtime.location(places.specs["acme-own"]).db
    part = next(p for p in items_part(target) if p.table == "movetest_items")
    assert digest(target, part, Selection.tenant("acme")).sha256 == before  # the same rows, each once
    assert values(runtime.db, "acme") == {} and len(values(runtime.db, "beta")) == 20
    assert places.placement("acme").spec == places.specs["acme-own"]
    runtime.close()
