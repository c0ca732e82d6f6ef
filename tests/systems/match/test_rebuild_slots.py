"""Match's four read models rebuilt in one pass (``replay_together``) beside their live slots, switched together."""

from __future__ import annotations

from typing import Any

from datastrata.core.config import Settings
from datastrata.projections.slots import state_in
from datastrata.runtime import Runtime
from datastrata.systems.match import simulate
from datastrata.systems.match.service import MatchService


def views(svc: MatchService, match_id: str) -> dict[str, Any]:
    return {
        "tv": svc.tv(match_id, cached=False)["events"],
        "news": svc.news()["alerts"],
        "social": svc.social()["posts"],
        "analytics": {k: v for k, v in svc.analytics().items() if k in ("players", "teams")},
    }


def active(runtime: Runtime) -> set[str]:
    with runtime.db.read() as tx:
        return {state_in(tx, r).active for r in ("match.tv", "match.news", "match.social", "match.analytics")}


def test_rebuilding_all_four_together_switches_each_to_the_other_slot_and_back(store_url: str) -> None:
    with Runtime.open(Settings(store=store_url)) as runtime:
        svc: MatchService = runtime.service("match", MatchService)
        played = simulate.play(svc, matches=2, seed=5)
        for runner in svc.runners.values():
            runner.catch_up()
        before = views(svc, played["matches"][0])
        assert before["tv"] and before["news"] and active(runtime) == {"a"}
        svc.rebuild("all")
        assert active(runtime) == {"b"} and views(svc, played["matches"][0]) == before
        svc.rebuild("tv")
        with runtime.db.read() as tx:
            assert state_in(tx, "match.tv").active == "a" and state_in(tx, "match.news").active == "b"
        assert views(svc, played["matches"][0]) == before
