"""A projection that fails or is killed mid-batch resumes without double counting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from datastrata.core.config import Settings
from datastrata.core.events import Event
from datastrata.projections.batching import BatchProjection, BatchRunner
from datastrata.runtime import Runtime
from datastrata.stores.database import Database, Tx
from datastrata.systems.match import simulate
from datastrata.systems.match.service import MatchService

CHILD = Path(__file__).with_name("crash_child.py")
ROOT = Path(__file__).parents[3]


class Exploding:
    """Delegates to a projection but fails half-way through its second batch."""

    def __init__(self, inner: BatchProjection) -> None:
        self.inner = inner
        self.name = inner.name
        self.event_types = inner.event_types
        self.batches = 0

    def setup(self, db: Database) -> None:
        self.inner.setup(db)

    def apply(self, tx: Tx, event: Event) -> None:
        self.apply_batch(tx, [event])

    def apply_batch(self, tx: Tx, events: Sequence[Event]) -> None:
        self.batches += 1
        if self.batches == 2:
            self.inner.apply_batch(tx, events[: len(events) // 2])
            raise RuntimeError("injected failure mid-batch")
        self.inner.apply_batch(tx, events)

    def clear(self, tx: Tx) -> None:
        self.inner.clear(tx)


def everything(svc: MatchService) -> dict[str, Any]:
    """The full contents of the four read models, without freshness."""
    matches = sorted(svc.match_ids())
    return {
        "tv": {m: svc.tv(m, cached=False)["events"] for m in matches},
        "news": svc.news(limit=1000)["alerts"],
        "social": svc.social(limit=1000)["posts"],
        "analytics": {k: svc.analytics()[k] for k in ("players", "teams")},
        "per_match": {m: svc.analytics(m)["players"] for m in matches},
    }


@pytest.mark.parametrize("which", ["tv", "news", "social", "analytics"])
def test_an_exception_mid_batch_rolls_back_and_is_isolated_without_double_counting(sqlite_url: str, which: str) -> None:
    with Runtime.open(Settings(store=sqlite_url)) as runtime:
        svc = MatchService(runtime)
        simulate.play(svc, matches=4, seed=7)
        healthy = svc.runners[which]
        broken = BatchRunner(runtime.log, Exploding(healthy.projection), batch_size=30)
        assert broken.run_once() == 30
        # The second page fails half-way: it rolls back whole and is applied again event by event, which heals a
        # passing failure in the same call; the end state below equals a rebuild, so nothing was counted twice.
        assert broken.run_once() == 30 and broken.projection.batches > 2  # type: ignore[attr-defined]
        healthy.catch_up()
        for other in svc.runners.values():
            other.catch_up()
        resumed = everything(svc)
        svc.rebuild("all")
        assert everything(svc) == resumed


def test_sigkill_mid_batch_resumes_without_double_counting(store_url: str) -> None:
    with Runtime.open(Settings(store=store_url)) as runtime:
        svc = MatchService(runtime)
        simulate.play(svc, matches=12, seed=11)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen(
            [sys.executable, str(CHILD), store_url], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for _ in range(10):  # ten batches committed, dozens to go; the kill lands inside the next one or between
            assert child.stdout.readline().startswith("match.")
        time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        lags = svc.lags()
        assert any(row["position"] > 0 and row["behind"] > 0 for row in lags), f"the kill should land mid-run: {lags}"
        for runner in svc.runners.values():
            runner.catch_up()
        resumed = everything(svc)
        svc.rebuild("all")
        assert everything(svc) == resumed
        with runtime.db.read() as tx:  # the write side's own counts: nothing applied twice or lost
            truth = tx.one(
                "SELECT sum(goals), sum(yellow_cards), sum(red_cards), sum(minutes_played) "
                "FROM match_player_match_stats"
            )
        players = resumed["analytics"]["players"]
        counted = tuple(sum(p[k] for p in players) for k in ("goals", "yellow_cards", "red_cards", "minutes_played"))
        assert counted == tuple(int(x) for x in truth or ())
