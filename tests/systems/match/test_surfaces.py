"""The match system through the shell and HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import typer
from typer.testing import CliRunner

from datastrata.api import create_app
from datastrata.core.config import Settings
from datastrata.shell import BusOption, CacheOption, ShellGroup, StoreOption, remember_stores
from datastrata.systems.match.api import router
from datastrata.systems.match.cli import app as match_app
from datastrata.systems.match.service import MatchService
from tests.conftest import ApiClient, finished_job
from tests.systems.match.conftest import NAMES

root = typer.Typer(cls=ShellGroup, no_args_is_help=True, pretty_exceptions_enable=False)


@root.callback()
def _root(ctx: typer.Context, store: StoreOption = None, bus: BusOption = None, cache: CacheOption = None) -> None:
    """Test root standing in for the datastrata command."""
    remember_stores(ctx, store, bus, cache)


root.add_typer(match_app, name="match")
runner = CliRunner()
LINEUP = ",".join(str(n) for n in range(1, 12))


def cli(store: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(root, ["--store", store, "match", *args])
    return result.exit_code, result.stdout, result.stderr


def ok(store: str, *args: str) -> Any:
    code, out, err = cli(store, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_a_match_through_the_shell(store_url: str) -> None:
    for team, name in (("ARG", "Argentina"), ("FRA", "France")):
        assert ok(store_url, "team", "add", team, name)["events"][0]["type"] == "TeamRegistered"
        for number, player in enumerate(NAMES[team][:12], start=1):
            ok(store_url, "player", "add", team, str(number), player)
    ok(store_url, "referee", "add", "MARCINIAK", "Szymon Marciniak")
    ok(store_url, "foul", "add", "UNSPORTING", "Unsporting behaviour")
    ok(store_url, "foul", "add", "VIOLENT", "Violent conduct")
    start = ["start", "M1", "--home", "ARG", "--away", "FRA", "--referee", "MARCINIAK"]
    ok(store_url, *start, "--home-lineup", LINEUP, "--away-lineup", LINEUP)
    ok(store_url, "yellow", "M1", "ARG-10", "--minute", "23", "--foul", "UNSPORTING", "--referee", "MARCINIAK")
    ok(store_url, "goal", "M1", "ARG-10", "--minute", "30")
    ok(store_url, "sub", "M1", "--off", "ARG-11", "--on", "ARG-12", "--minute", "60")
    ok(store_url, "red", "M1", "FRA-4", "--minute", "70", "--foul", "VIOLENT")
    token = ok(store_url, "end", "M1", "--minute", "90")["token"]

    code, out, _ = cli(store_url, "tv", "M1")  # no worker: the query catches its projection up first
    assert code == 0 and "Messi (Argentina) - Unsporting behaviour" in out and "stale by 0" in out
    tv = ok(store_url, "tv", "M1", "--after", str(token))
    assert tv["events"][0]["text"] == "Full time: Argentina 1-0 France" and tv["stale_by"] == 0
    news = ok(store_url, "news", "--threshold", "80")
    assert [a["category"] for a in news["alerts"]] == ["goal", "red card", "result"]
    social = ok(store_url, "social", "--trending")
    assert social["posts"][0]["kind"] == "goal" and "#ARGvFRA" in social["posts"][0]["hashtags"]
    report = ok(store_url, "analytics", "M1")
    messi = next(p for p in report["players"] if p["player_id"] == "ARG-10")
    assert (messi["goals"], messi["yellow_cards"], messi["minutes_played"]) == (1, 1, 90)
    assert {t["team"]: t["bookings"] for t in report["teams"]} == {"ARG": 1, "FRA": 1}
    code, out, _ = cli(store_url, "analytics")
    assert code == 0 and "ARG-10" in out

    code, out, err = cli(store_url, "rebuild", "--projection", "all")
    assert code == 0, err
    assert "all: applied 28 events" in out
    assert ok(store_url, "analytics", "M1")["players"] == report["players"]
    code, out, err = cli(store_url, "rebuild", "--projection", "news")
    assert code == 0 and "news: applied 7 events" in out
    lags = ok(store_url, "lag")
    assert {r["projection"] for r in lags} == {"tv", "news", "social", "analytics"}
    assert all(r["behind"] == 0 for r in lags)

    code, out, err = cli(store_url, "goal", "M1", "ARG-10", "--minute", "91")
    assert code == 2 and err.startswith("error: rule 'match in progress'") and "Traceback" not in err + out
    code, _, err = cli(store_url, "rebuild", "--projection", "radio")
    assert code == 2 and "projection must be one of" in err


def test_shell_refusals_and_simulate(sqlite_url: str) -> None:
    code, _, err = cli(
        sqlite_url,
        "start",
        "M1",
        "--home",
        "ARG",
        "--away",
        "FRA",
        "--referee",
        "R",
        "--home-lineup",
        "1,2,x",
        "--away-lineup",
        LINEUP,
    )
    assert code == 2 and "home_lineup must be comma-separated squad numbers" in err
    code, _, err = cli(sqlite_url, "player", "add", "ARG", "10", "Messi")
    assert code == 2 and "team ARG is not registered; add it with: datastrata match team add ARG NAME" in err
    played = ok(sqlite_url, "simulate", "--matches", "3", "--seed", "5")
    assert played["matches"] == ["SIM-5-1", "SIM-5-2", "SIM-5-3"] and played["commands"]["start"] == 3
    again = ok(sqlite_url, "simulate", "--matches", "1", "--seed", "5")
    assert again["matches"] == ["SIM-5-4"] and again["registered"] == 0
    assert len(ok(sqlite_url, "analytics")["teams"]) >= 2
    code, out, _ = cli(sqlite_url, "news")
    assert code == 0 and "[" in out


def test_every_match_command_has_help() -> None:
    import typer.main

    def walk(group: object, path: list[str]) -> list[list[str]]:
        out = [path]
        for name, cmd in getattr(group, "commands", {}).items():
            out += walk(cmd, [*path, name])
        return out

    paths = walk(typer.main.get_command(root), [])
    assert ["match", "team", "add"] in paths and ["match", "simulate"] in paths
    for path in paths:
        result = runner.invoke(root, [*path, "--help"])
        assert result.exit_code == 0, path
        assert len(result.stdout.strip().splitlines()) > 3, path


def test_a_match_over_http(store_url: str, api_client: ApiClient) -> None:
    app = create_app(Settings(store=store_url), worker=False)
    app.include_router(router)
    with api_client(app) as http:
        for team, name in (("ARG", "Argentina"), ("FRA", "France")):
            assert http.post("/match/teams", json={"code": team, "name": name}).status_code == 201
            for number, player in enumerate(NAMES[team][:12], start=1):
                r = http.post("/match/players", json={"team": team, "number": number, "name": player})
                assert r.status_code == 201, r.text
        assert http.post("/match/referees", json={"referee_id": "R1", "name": "Ref One"}).status_code == 201
        assert http.post("/match/fouls", json={"foul_id": "F1", "description": "Holding"}).status_code == 201
        lineup = list(range(1, 12))
        start = {
            "match_id": "M1",
            "home": "ARG",
            "away": "FRA",
            "referee": "R1",
            "home_lineup": lineup,
            "away_lineup": lineup,
        }
        assert http.post("/match/matches", json=start).status_code == 201
        r = http.post("/match/matches/M1/yellow-cards", json={"player": "FRA-7", "minute": 12, "foul": "F1"})
        assert r.status_code == 201 and r.json()["events"][0]["type"] == "PlayerBooked"
        r = http.post("/match/matches/M1/yellow-cards", json={"player": "FRA-7", "minute": 40, "foul": "F1"})
        assert [e["type"] for e in r.json()["events"]] == ["PlayerBooked", "PlayerSentOff"]
        assert http.post("/match/matches/M1/goals", json={"player": "ARG-9", "minute": 50}).status_code == 201
        sub = {"off": "ARG-9", "on": "ARG-12", "minute": 60}
        assert http.post("/match/matches/M1/substitutions", json=sub).status_code == 201
        r = http.post("/match/matches/M1/red-cards", json={"player": "ARG-2", "minute": 70, "foul": "F1"})
        assert r.status_code == 201
        token = http.post("/match/matches/M1/end", json={"minute": 95, "referee": "R1"}).json()["token"]

        lazy = http.get("/match/news").json()  # no worker and no token: answers at once, says how stale
        assert lazy["items"] == [] and lazy["stale_by"] > 0
        for runner in app.state.runtime.service("match", MatchService).runners.values():
            runner.catch_up()  # what the worker of `serve` does; an HTTP read only waits for it
        news = http.get("/match/news", params={"after": token, "threshold": 85}).json()
        assert [a["category"] for a in news["items"]] == ["goal", "red card", "red card"]
        tv = http.get("/match/matches/M1/tv", params={"after": token}).json()
        assert tv["events"][0]["text"] == "Full time: Argentina 1-0 France" and len(tv["events"]) == 8
        assert http.get("/match/matches/M1/tv").json()["cached"] is True
        social = http.get("/match/social", params={"after": token, "trending": True, "match": "M1"}).json()
        assert social["items"][0]["kind"] == "goal"
        report = http.get("/match/analytics", params={"after": token, "match": "M1"}).json()
        fra7 = next(p for p in report["players"] if p["player_id"] == "FRA-7")
        assert (fra7["yellow_cards"], fra7["red_cards"], fra7["minutes_played"]) == (2, 1, 40)
        assert {r["projection"] for r in http.get("/match/lag").json()} == {"tv", "news", "social", "analytics"}
        started = http.post("/match/rebuild", json={"projection": "analytics"})
        assert started.json()["kind"] == "rebuild" and started.json()["target"] == "match.analytics"
        rebuilt = finished_job(http, started)
        assert rebuilt["state"] == "succeeded" and rebuilt["result"]["applied"] == {"analytics": 9}
        assert rebuilt["progress"]["position"] == rebuilt["progress"]["target"] > 0
        assert http.get("/match/analytics", params={"match": "M1"}).json()["players"] == report["players"]
        assert http.post("/match/simulate", json={"matches": 1, "seed": 2}).json()["matches"] == ["SIM-2-1"]

        refused = http.post("/match/matches/M1/goals", json={"player": "ARG-10", "minute": 96})
        assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
        assert "rule 'match in progress'" in refused.json()["detail"]
        missing = http.post("/match/matches/NOPE/goals", json={"player": "ARG-10", "minute": 1})
        assert missing.status_code == 404 and missing.json()["field"] == "match_id"
        bad = http.post("/match/matches/M1/goals", json={"player": "ARG-10", "minute": 200})
        assert bad.status_code == 422 and bad.json()["field"] == "minute"
        assert http.get("/match/news", params={"threshold": 500}).status_code == 422
        timeout = http.get("/match/news", params={"after": token * 4 + 10**6, "timeout": 0.1})
        assert timeout.status_code == 504
