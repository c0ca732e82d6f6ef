"""SIGKILL at each step of a move: the rows stay readable exactly once, and the next run finishes the move."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.events import Event
from datastrata.eventlog.archive import LazyObjects
from datastrata.eventlog.log import EventLog
from datastrata.stores.open import open_database
from datastrata.tiering.moves import STEPS, Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.plan import plan
from datastrata.tiering.policy import parse_policy
from tests.tiering import segmentdata
from tests.tiering.rowdata import NOW, POLICY, create_readings

CHILD = Path(__file__).with_name("move_child.py")
ROOT = Path(__file__).parents[2]


def rows(mover: Mover) -> list[tuple[object, ...]]:
    table = mover.read_range("readings", NOW - timedelta(days=30), NOW + timedelta(days=1))
    return sorted(zip(*(table.column(n).to_pylist() for n in ("sensor", "ts", "value")), strict=True))


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_each_step_loses_nothing_and_the_next_run_finishes(
    step: str, store_url: str, tmp_path: Path
) -> None:
    db = open_database(store_url)
    create_readings(db)
    clock = FrozenClock(NOW)
    objects_url = f"file://{tmp_path}/objects"
    mover = Mover(db, ObjectStore(objects_url, clock=clock), parse_policy(POLICY), clock=clock)
    before = rows(mover)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), store_url, objects_url, step], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    assert child.stdout is not None
    seen: list[str] = []
    while seen.count(step) < 2:
        line = child.stdout.readline()
        assert line, f"the child ended before its second {step!r}: {seen}"
        seen.append(line.split()[0])
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert rows(mover) == before  # every row readable, none twice, in the middle of a move
    done_before = {r.item for r in mover.records("readings")}
    assert len(done_before) == (2 if step == "recorded" else 1)
    mover.run(plan(mover.policy, mover.inventory(), NOW))  # the next run finishes the work
    records = mover.records("readings")
    assert sorted(r.item for r in records) == ["2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"]
    assert rows(mover) == before
    assert not plan(mover.policy, mover.inventory(), NOW).moves
    assert len(mover.objects.list("tiering/readings/")) == 4  # a copy the kill left unrecorded was overwritten
    db.close()


def kill_child_at(step: str, args: list[str]) -> None:
    """Run the child with `args` and SIGKILL it at the second move's `step`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, str(CHILD), *args], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert child.stdout is not None
    seen: list[str] = []
    while seen.count(step) < 2:
        line = child.stdout.readline()
        assert line, f"the child ended before its second {step!r}: {seen}"
        seen.append(line.split()[0])
    os.kill(child.pid, signal.SIGKILL)
    child.wait()


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_each_step_of_a_stream_move_keeps_each_event_readable_once(
    step: str, store_url: str, tmp_path: Path
) -> None:
    db = open_database(store_url)
    clock = FrozenClock(NOW)
    log = EventLog(db, clock=clock)
    versions = segmentdata.create_matches(log, clock)
    objects_url = f"file://{tmp_path}/objects"
    log.objects = LazyObjects(objects_url, clock=clock)
    mover = Mover(db, ObjectStore(objects_url, clock=clock), parse_policy(segmentdata.POLICY), clock=clock)

    def readable() -> dict[str, list[Event]]:
        return {s: log.read(s) for s in versions}

    before = readable()
    kill_child_at(step, [store_url, objects_url, step, "segments"])
    assert readable() == before  # every event readable, once, from the online log or its segment
    assert len(log.archived()) == (2 if step == "recorded" else 1)
    mover.run(mover.plan(NOW))  # the next run finishes the work
    assert sorted(s.stream_id for s in log.archived()) == ["match-a", "match-b", "match-d"]
    assert readable() == before
    assert not mover.plan(NOW).moves
    assert len(mover.objects.list("tiering/matches/")) == 3  # a copy the kill left unrecorded was overwritten
    db.close()
