"""The four read models after a scripted match, rebuild equality, the cache and consistency tokens."""

from __future__ import annotations

from typing import Any

import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import ConsistencyTimeout, ValidationError
from datastrata.runtime import Runtime
from datastrata.systems.match.service import MatchService
from tests.systems.match.conftest import LINEUP, MATCH, register


def play_script(svc: MatchService) -> int:
    """A scripted final; returns the last command's token."""
    svc.start(MATCH, "ARG", "FRA", "MARCINIAK", LINEUP, LINEUP)
    svc.goal(MATCH, "ARG-10", minute=23)
    svc.yellow(MATCH, "ARG-10", minute=30, foul="UNSPORTING")
    svc.substitute(MATCH, off="ARG-11", on="ARG-12", minute=64)
    svc.red(MATCH, "FRA-4", minute=70, foul="VIOLENT")
    svc.goal(MATCH, "ARG-12", minute=75)
    svc.goal(MATCH, "FRA-10", minute=81)
    svc.yellow(MATCH, "ARG-10", minute=88, foul="RECKLESS")
    return svc.end(MATCH, minute=93).token


def views(svc: MatchService) -> dict[str, Any]:
    """The contents of the four read models (without freshness), caught up."""
    return {
        "tv": svc.tv(MATCH, catch_up=True, cached=False)["events"],
        "news": svc.news(catch_up=True)["alerts"],
        "social": svc.social(catch_up=True, limit=100)["posts"],
        "analytics": {k: svc.analytics(catch_up=True)[k] for k in ("players", "teams")},
        "analytics_match": {k: svc.analytics(MATCH, catch_up=True)[k] for k in ("players", "teams")},
    }


def test_four_read_models_after_a_scripted_match(svc: MatchService) -> None:
    play_script(svc)
    tv = svc.tv(MATCH, catch_up=True)
    assert [(e["minute"], e["kind"], e["text"]) for e in tv["events"]] == [
        (93, "full time", "Full time: Argentina 2-1 France"),
        (88, "sent off", "Messi (Argentina) - Sent off: second yellow card"),
        (88, "yellow card", "Messi (Argentina) - Reckless tackle"),
        (81, "goal", "GOAL! Mbappé (France) - Argentina 2-1 France"),
        (75, "goal", "GOAL! Dybala (Argentina) - Argentina 2-0 France"),
        (70, "red card", "Varane (France) - Violent conduct"),
        (64, "substitution", "Substitution (Argentina): Dybala on, Di María off"),
        (30, "yellow card", "Messi (Argentina) - Unsporting behaviour"),
        (23, "goal", "GOAL! Messi (Argentina) - Argentina 1-0 France"),
        (0, "kick-off", "Kick-off: Argentina v France (referee Szymon Marciniak)"),
    ]
    assert tv["stale_by"] == 0 and tv["position"] >= tv["head"]

    news = svc.news(threshold=75, catch_up=True)["alerts"]
    assert [(a["urgency_score"], a["category"], a["headline"]) for a in news] == [
        (95, "late goal", "GOAL: Mbappé scores for France"),
        (90, "goal", "GOAL: Dybala scores for Argentina"),
        (90, "goal", "GOAL: Messi scores for Argentina"),
        (85, "red card", "Messi sent off"),
        (85, "red card", "Varane sent off"),
        (80, "result", "Full time: Argentina 2-1 France"),
        (75, "yellow card", "Yellow card for Messi (Argentina)"),
        (75, "yellow card", "Yellow card for Messi (Argentina)"),
    ]
    assert news[3]["sub_headline"] == "Argentina v France, 88': second yellow card (Reckless tackle)"
    assert news[6]["sub_headline"] == "Argentina v France, 88': Reckless tackle"
    assert len(svc.news()["alerts"]) == 10  # kick-off (40) and the substitution (30) below 75

    feed = svc.social(catch_up=True)["posts"]
    assert feed[0]["text"] == "🏁 FULL TIME: Argentina 2-1 France 👏"
    assert feed[0]["hashtags"] == ["#WorldCup", "#Argentina", "#France", "#ARGvFRA", "#FullTime"]
    yellow = next(p for p in feed if p["kind"] == "yellow card")
    assert "#YellowCard" in yellow["hashtags"] and yellow["text"].startswith("🟨 Yellow card for Messi")
    trending = svc.social(trending=True)["posts"]
    assert [p["engagement_score"] for p in trending[:4]] == [1500, 1000, 1000, 700]
    assert trending[0]["text"].startswith("⚽ GOOOAL! Mbappé")

    report = svc.analytics(MATCH, catch_up=True)
    messi = next(p for p in report["players"] if p["player_id"] == "ARG-10")
    assert messi == {
        "player_id": "ARG-10",
        "name": "Messi",
        "team": "ARG",
        "goals": 1,
        "yellow_cards": 2,
        "red_cards": 1,
        "minutes_played": 88,
        "matches": 1,
    }
    by_id = {p["player_id"]: p for p in report["players"]}
    assert by_id["FRA-4"]["red_cards"] == 1 and by_id["FRA-4"]["yellow_cards"] == 0
    assert (by_id["ARG-11"]["minutes_played"], by_id["ARG-12"]["minutes_played"]) == (64, 29)
    assert by_id["FRA-1"]["minutes_played"] == 93 and by_id["ARG-12"]["goals"] == 1 and len(by_id) == 23
    assert report["teams"] == [
        {"team": "ARG", "name": "Argentina", "goals": 2, "bookings": 2, "matches": 1},
        {"team": "FRA", "name": "France", "goals": 1, "bookings": 1, "matches": 1},
    ]


def test_analytics_across_matches(svc: MatchService) -> None:
    play_script(svc)
    svc.start("REMATCH", "FRA", "ARG", "TAYLOR", LINEUP, LINEUP)
    svc.goal("REMATCH", "ARG-10", minute=10)
    svc.end("REMATCH", minute=90)
    overall = svc.analytics(catch_up=True)
    messi = next(p for p in overall["players"] if p["player_id"] == "ARG-10")
    assert (messi["goals"], messi["yellow_cards"], messi["red_cards"], messi["minutes_played"]) == (2, 2, 1, 178)
    assert overall["players"][0]["player_id"] == "ARG-10"
    assert {t["team"]: (t["goals"], t["matches"]) for t in overall["teams"]} == {"ARG": (3, 2), "FRA": (1, 2)}


def test_rebuild_gives_the_same_read_models(svc: MatchService) -> None:
    play_script(svc)
    before = views(svc)
    for which in ("tv", "news", "social", "analytics"):
        svc.rebuild(which)  # type: ignore[arg-type]
        assert views(svc) == before, which
    applied = svc.rebuild("all")
    assert applied == {"all": 4 * 11}  # eleven match events, read by each of the four
    assert views(svc) == before
    with pytest.raises(ValidationError, match="projection must be one of tv, news, social, analytics or all"):
        svc.rebuild("radio")  # type: ignore[arg-type]


def test_tv_is_served_from_the_cache_and_refreshed_on_change(svc: MatchService) -> None:
    svc.start(MATCH, "ARG", "FRA", "MARCINIAK", LINEUP, LINEUP)
    first = svc.tv(MATCH, catch_up=True)
    assert not first["cached"] and len(first["events"]) == 1
    again = svc.tv(MATCH)
    assert again["cached"] and again["events"] == first["events"]
    token = svc.goal(MATCH, "ARG-10", minute=3).token
    stale = svc.tv(MATCH)  # nobody ran the projection: the cached view is still right for its position
    assert stale["cached"] and stale["stale_by"] >= 1 and len(stale["events"]) == 1
    svc.runners["tv"].catch_up()  # the commit invalidates the entry
    fresh = svc.tv(MATCH)
    assert not fresh["cached"] and fresh["events"][0]["text"].startswith("GOAL! Messi")
    assert svc.tv(MATCH, after=token)["cached"]
    for minute in range(4, 20):
        svc.goal(MATCH, "FRA-10", minute=minute)
    assert len(svc.tv(MATCH, catch_up=True)["events"]) == 10


def test_tv_cache_of_one_process_does_not_hide_another_process_s_writes(store_url: str) -> None:
    """Two runtimes, two in-process caches, one store: a view cached by one is not served past the checkpoint."""
    with Runtime.open(Settings(store=store_url)) as first, Runtime.open(Settings(store=store_url)) as second:
        reader, writer = MatchService(first), MatchService(second)
        register(writer)
        writer.start(MATCH, "ARG", "FRA", "MARCINIAK", LINEUP, LINEUP)
        assert len(reader.tv(MATCH, catch_up=True)["events"]) == 1
        assert reader.tv(MATCH)["cached"]
        writer.goal(MATCH, "ARG-10", minute=3)
        writer.runners["tv"].catch_up()  # the other process applies the goal and invalidates only its own cache
        view = reader.tv(MATCH)
        assert not view["cached"] and view["events"][0]["text"].startswith("GOAL! Messi")


def test_tv_cache_on_redis(store_url: str, redis_url: str) -> None:
    with Runtime.open(Settings(store=store_url, cache=redis_url)) as runtime:
        svc = MatchService(runtime)
        register(svc)
        token = svc.start(MATCH, "ARG", "FRA", "MARCINIAK", LINEUP, LINEUP).token
        assert not svc.tv(MATCH, after=token)["cached"]
        assert svc.tv(MATCH)["cached"]
        token = svc.goal(MATCH, "ARG-10", minute=1).token
        view = svc.tv(MATCH, after=token)
        assert not view["cached"] and len(view["events"]) == 2


def test_consistency_token(svc: MatchService) -> None:
    token = svc.start(MATCH, "ARG", "FRA", "MARCINIAK", LINEUP, LINEUP).token
    lazy = svc.news()
    assert lazy["alerts"] == [] and lazy["stale_by"] >= 1 and lazy["position"] < token  # eventually consistent
    seen = svc.news(after=token)
    assert seen["alerts"][0]["category"] == "kick-off" and seen["position"] >= token and seen["after"] == token
    token = svc.goal(MATCH, "ARG-10", minute=9).token
    assert svc.analytics(MATCH, after=token)["teams"][0]["goals"] == 1
    assert svc.social(after=token)["posts"][0]["kind"] == "goal"
    assert svc.tv(MATCH, after=token)["events"][0]["kind"] == "goal"
    with pytest.raises(ConsistencyTimeout, match=r"match\.news"):
        svc.news(after=token * 4 + 1000, timeout=0.1)
    with pytest.raises(ValidationError, match="after must be a position >= 0"):
        svc.news(after=-1)


def test_a_stuck_projection_times_out(svc: MatchService, monkeypatch: pytest.MonkeyPatch) -> None:
    token = svc.start(MATCH, "ARG", "FRA", "MARCINIAK", LINEUP, LINEUP).token
    monkeypatch.setattr(svc.runners["social"], "run_once", lambda: 0)
    with pytest.raises(ConsistencyTimeout, match=r"match\.social"):
        svc.social(after=token, timeout=0.2)


def test_query_input_is_checked(svc: MatchService) -> None:
    with pytest.raises(ValidationError, match="threshold"):
        svc.news(threshold=101)
    with pytest.raises(ValidationError, match="limit"):
        svc.social(limit=0)
    with pytest.raises(ValidationError, match="match_id"):
        svc.tv("bad id!")
