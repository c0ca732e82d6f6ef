"""All four match read models rebuilt in one pass on the follower core: the same tables as four rebuilds, a poison
event that stops only its own read model (parked in its dead letters), and a killed pass that resumes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import RebuildFailed
from datastrata.core.events import Event
from datastrata.projections.slots import REBUILD_SUFFIX, Tables, state_in
from datastrata.runtime import Runtime, deadletters
from datastrata.systems.match import domain, simulate
from datastrata.systems.match.analytics import AnalyticsProjection
from datastrata.systems.match.service import MatchService, register_batched

ROOT = Path(__file__).parents[3]
CHILD = Path(__file__).with_name("rebuild_together_child.py")
NAMES = ("match.tv", "match.news", "match.social", "match.analytics")
TABLES = {
    "match.tv": ("match_tv_events",),
    "match.news": ("match_news_alerts",),
    "match.social": ("match_social_posts",),
    "match.analytics": ("match_analytics_players", "match_analytics_teams"),
}


class FragileAnalytics(AnalyticsProjection):
    """Analytics that cannot fold the event with id `poison` while `broken` (a bad release)."""

    poison = ""
    broken = False

    def prepare(self, events: Sequence[Event]) -> Any:
        if self.broken and any(e.event_id == self.poison for e in events):
            raise ValueError("cannot fold this goal")
        return super().prepare(events)


def live_rows(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every live slot table, in key order (what all readers of the four read models see)."""
    out = {}
    with runtime.db.read() as tx:
        for name, tables in TABLES.items():
            slot = Tables(state_in(tx, name).active)
            for table in tables:
                out[table] = [tuple(r) for r in tx.query(f"SELECT * FROM {slot[table]} ORDER BY 1, 2, 3")]
    return out


def slots(runtime: Runtime) -> dict[str, tuple[str, str | None]]:
    with runtime.db.read() as tx:
        return {name: (state_in(tx, name).active, state_in(tx, name).building) for name in NAMES}


def played(runtime: Runtime, svc: MatchService, matches: int = 3) -> None:
    simulate.play(svc, matches=matches, seed=11)
    for runner in svc.runners.values():
        runner.catch_up()


def test_one_pass_for_all_four_builds_the_same_tables_as_four_rebuilds(store_url: str) -> None:
    with Runtime.open(Settings(store=store_url)) as runtime:
        svc = MatchService(runtime)
        played(runtime, svc)
        live = live_rows(runtime)
        assert all(live[t] for t in live)  # every table has rows to compare
        for name in ("tv", "news", "social", "analytics"):
            svc.rebuild(name)  # type: ignore[arg-type]
        separately = live_rows(runtime)
        assert {s for s, _ in slots(runtime).values()} == {"b"}
        applied = svc.rebuild("all")["all"]
        assert {s for s, _ in slots(runtime).values()} == {"a"}
        assert live_rows(runtime) == separately == live
        assert applied == 4 * sum(1 for e in _all(runtime) if e.type in domain.MATCH_EVENTS)  # each read once each


def _all(runtime: Runtime) -> list[Event]:
    return runtime.log.read_all(limit=100_000)


@pytest.mark.parametrize("processes", [1, 2])
def test_a_poison_event_in_a_combined_rebuild_parks_only_its_read_model_and_keeps_its_live_view(
    store_url: str, processes: int
) -> None:
    with Runtime.open(Settings(store=store_url)) as runtime:
        fragile = FragileAnalytics()
        register_batched(runtime, fragile)  # MatchService takes this runner
        svc = MatchService(runtime)
        played(runtime, svc)
        before = live_rows(runtime)
        fragile.poison = next(e.event_id for e in _all(runtime) if e.type == domain.GOAL_SCORED)
        fragile.broken = True
        with pytest.raises(RebuildFailed, match=r"rebuild of match\.analytics stopped at event") as failed:
            svc.rebuild("all", processes=processes)  # 2: analytics (the heaviest) replays here, tv and news there
        message = failed.value.message
        assert "slot a) is untouched" in message and "cannot fold this goal" in message
        assert "match.tv, match.news, match.social rebuilt and switched" in message
        assert slots(runtime) == {
            "match.tv": ("b", None),
            "match.news": ("b", None),
            "match.social": ("b", None),
            "match.analytics": ("a", "b"),  # its old view still answers; its build waits at the poison event
        }
        assert live_rows(runtime) == before
        (letter,) = runtime.dead_letters.list()
        assert (letter.consumer, letter.event_id, letter.status) == ("match.analytics", fragile.poison, "parked")
        runtime.run_once()  # the worker's rules: the live follower is past the event, so it neither halts nor
        assert runtime.dead_letters.get(letter.id).status == "parked"  # … resolves the rebuild's letter
        assert {s.name: s.state for s in runtime.statuses()}["match.analytics"] == "running"
        fragile.broken = False  # the fix is deployed: retrying the letter resumes the rebuild
        assert deadletters.retry(runtime, letter.id).status == "resolved"
        assert slots(runtime)["match.analytics"] == ("b", None) and live_rows(runtime) == before
        with runtime.db.read() as tx:
            done = tx.one("SELECT 1 FROM projection_checkpoints WHERE name = ?", ("match.analytics" + REBUILD_SUFFIX,))
        assert done is None  # the finished rebuild's own checkpoint is gone


def test_a_killed_combined_rebuild_leaves_the_live_slots_and_the_next_one_resumes(store_url: str) -> None:
    with Runtime.open(Settings(store=store_url)) as runtime:
        svc = MatchService(runtime)
        played(runtime, svc, matches=4)
        before = live_rows(runtime)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.run(
        [sys.executable, str(CHILD), store_url, "10"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert child.returncode == -9, child.stderr
    with Runtime.open(Settings(store=store_url)) as runtime:
        svc = MatchService(runtime)
        assert live_rows(runtime) == before
        assert set(slots(runtime).values()) == {("a", "b")}
        marks = {r.name: r.sink.mark(r.name + REBUILD_SUFFIX).position for r in svc.runners.values()}
        assert len(set(marks.values())) == 1 and 0 < marks["match.tv"] < runtime.log.head()  # two pages each
        matched = sum(1 for e in _all(runtime) if e.type in domain.MATCH_EVENTS and e.position > marks["match.tv"])
        assert svc.rebuild("all")["all"] == 4 * matched  # it went on from the checkpoints, not from 0
        assert set(slots(runtime).values()) == {("b", None)} and live_rows(runtime) == before
