"""The food system through the shell, HTTP and the tour, on SQLite and PostgreSQL with a real LadybugDB graph."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from datastrata.api import create_app
from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.shell import ShellGroup
from datastrata.systems.food.api import router
from datastrata.systems.food.cli import app as food_app
from datastrata.systems.food.projection import NAME
from datastrata.systems.food.service import install
from datastrata.systems.food.synthetic import generate
from datastrata.systems.food.tour import tour_step
from tests.conftest import ApiClient

root = typer.Typer(cls=ShellGroup, no_args_is_help=True, pretty_exceptions_enable=False)
root.add_typer(food_app, name="food")
runner = CliRunner()


def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(root, ["food", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def ok(env: dict[str, str], *args: str) -> Any:
    code, out, err = cli(env, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_the_seed_story_via_cli(store_url: str, tmp_path: Path) -> None:
    env = {"DATASTRATA_STORE": store_url, "DATASTRATA_GRAPH": f"ladybug:///{tmp_path / 'graph'}"}
    ok(env, "user", "add", "A", "--lat", "35.658", "--lon", "139.7016")
    ok(env, "user", "add", "B", "--lat", "35.69", "--lon", "139.70")
    ok(env, "restaurant", "add", "ichiran", "--name", "Ichiran", "--address", "Jinnan 1-22-7",
       "--lat", "35.6614", "--lon", "139.7006", "--cuisine", "Ramen", "--cuisine", "Japanese")  # fmt: skip
    ok(env, "restaurant", "add", "wowprime", "--name", "Wowprime", "--address", "Shinjuku 3-4-1",
       "--lat", "35.6905", "--lon", "139.704", "--cuisine", "Steak")  # fmt: skip
    ok(env, "menu", "add", "ichiran", "tonkotsu", "--name", "Tonkotsu", "--price", "980", "--ingredient", "pork")
    placed = ok(env, "order", "A", "ichiran", "--item", "tonkotsu", "--rating", "5", "--at", "2025-09-01T12:00:00Z")
    assert placed["total"] == "980.00" and placed["token"] > 0
    ok(env, "order", "B", "ichiran")
    ok(env, "order", "B", "wowprime", "--rating", "4")
    assert ok(env, "lag")["behind"] > 0
    # No worker: the read lets the graph catch up first, so it sees the writes before it.
    assert ok(env, "recommend", "A") == [
        {"restaurant_id": "wowprime", "name": "Wowprime", "address": "Shinjuku 3-4-1", "score": 1,
         "sponsored": False, "reasons": ["ichiran"]}
    ]  # fmt: skip
    assert ok(env, "lag")["behind"] == 0
    ok(env, "restaurant", "add", "domino", "--name", "Domino's", "--lat", "35.659", "--lon", "139.698",
       "--cuisine", "Pizza", "--sponsored")  # fmt: skip
    ok(env, "user", "add", "C", "--lat", "35.66", "--lon", "139.70")
    for rid in ("ichiran", "wowprime", "domino"):
        last = ok(env, "order", "C", rid)
    ok(env, "favorite", "A", "domino")
    found = ok(env, "recommend", "A", "--after", str(last["token"]), "--weighting", "orders")
    assert [(r["restaurant_id"], r["score"], r["sponsored"]) for r in found] == [
        ("domino", 1, True), ("wowprime", 2, False)
    ]  # fmt: skip
    assert ok(env, "restaurant", "sponsor", "domino", "--off")["written"] == 1
    assert [r["restaurant_id"] for r in ok(env, "recommend", "A", "--limit", "1")] == ["wowprime"]
    near = ok(env, "cuisines", "A", "--near-km", "3")
    assert near["favourites"] == [{"cuisine": "Japanese", "orders": 1}, {"cuisine": "Ramen", "orders": 1}]
    assert near["nearby"] == [] and [r["cuisine"] for r in near["related"]] == ["Steak", "Pizza"]
    rebuilt = ok(env, "rebuild")
    assert rebuilt["applied"] > 0 and ok(env, "lag")["behind"] == 0
    assert ok(env, "restaurant", "show", "ichiran")["menu"][0]["price"] == "980.00"
    code, out, _ = cli(env, "recommend", "B")
    assert code == 0 and "domino" in out
    code, _, err = cli(env, "order", "A", "nowhere")
    assert code == 2 and "not listed" in err and "Traceback" not in err
    code, _, err = cli(env, "recommend", "A", "--weighting", "best")
    assert code == 2 and "weighting 'best' is unknown" in err
    code, _, err = cli(env, "order", "A", "ichiran", "--at", "yesterday")
    assert code == 2 and "ISO-8601" in err


def test_seed_via_cli(sqlite_url: str, tmp_path: Path) -> None:
    env = {"DATASTRATA_STORE": sqlite_url, "DATASTRATA_GRAPH": f"ladybug:///{tmp_path / 'graph'}"}
    seeded = ok(env, "seed", "--users", "60", "--restaurants", "12", "--orders", "400", "--seed", "7")
    assert (seeded["users"], seeded["orders"], seeded["graph_applied"]) == (60, 400, seeded["token"])
    again = ok(env, "seed", "--users", "60", "--restaurants", "12", "--orders", "400", "--seed", "7")
    assert (again["orders"], again["orders_already_recorded"]) == (0, 400)
    assert ok(env, "lag")["behind"] == 0
    heavy = max(Counter(o.user_id for o in generate(60, 12, 400, seed=7).orders).items(), key=lambda kv: kv[1])[0]
    assert len(ok(env, "recommend", heavy, "--limit", "3")) == 3


def test_every_command_has_help() -> None:
    import typer.main

    def walk(group: Any, path: list[str]) -> list[list[str]]:
        found = []
        for name, command in group.commands.items():
            found += walk(command, [*path, name]) if hasattr(command, "commands") else [[*path, name]]
        return found

    group = typer.main.get_command(root)
    commands = walk(group.commands["food"], ["food"])  # type: ignore[attr-defined]
    assert len(commands) == 12
    for path in commands:
        result = runner.invoke(root, [*path, "--help"])
        assert result.exit_code == 0, path
        assert len(result.stdout.strip().splitlines()) > 3, path


def test_the_same_story_via_http(store_url: str, tmp_path: Path, api_client: ApiClient) -> None:
    app = create_app(Settings(store=store_url, graph=f"ladybug:///{tmp_path / 'graph'}"), worker=False)
    app.include_router(router)
    with api_client(app) as http:
        assert http.put("/food/users/A", json={"lat": 35.658, "lon": 139.7016}).status_code == 200
        assert http.put("/food/users/B", json={"lat": 35.69, "lon": 139.70}).status_code == 200
        for rid, name in (("ichiran", "Ichiran"), ("wowprime", "Wowprime")):
            body = {"name": name, "address": f"{name} street", "lat": 35.66, "lon": 139.70, "cuisines": ["Ramen"]}
            assert http.put(f"/food/restaurants/{rid}", json=body).status_code == 200
        menu = http.put("/food/restaurants/ichiran/menu/tonkotsu", json={"name": "Tonkotsu", "price": "980.00"})
        assert menu.status_code == 200, menu.text
        first = http.post("/food/orders", json={"user_id": "A", "restaurant_id": "ichiran", "items": ["tonkotsu"],
                                                "order_id": "o1", "at": "2025-09-01T12:00:00Z"})  # fmt: skip
        assert first.status_code == 200, first.text
        again = http.post("/food/orders", json={"user_id": "A", "restaurant_id": "ichiran", "items": ["tonkotsu"],
                                                "order_id": "o1", "at": "2025-09-01T12:00:00Z"})  # fmt: skip
        assert again.json()["duplicate"] is True and again.json()["token"] == first.json()["token"]
        http.post("/food/orders", json={"user_id": "B", "restaurant_id": "ichiran"})
        last = http.post("/food/orders", json={"user_id": "B", "restaurant_id": "wowprime", "rating": 5}).json()
        assert http.get("/food/lag").json()["behind"] > 0
        found = http.get("/food/users/A/recommendations", params={"after": last["token"]})
        assert found.status_code == 200, found.text
        assert found.json() == [{"restaurant_id": "wowprime", "name": "Wowprime", "address": "Wowprime street",
                                 "score": 1, "sponsored": False, "reasons": ["ichiran"]}]  # fmt: skip
        assert http.put("/food/users/A/favorites/wowprime").json()["written"] == 1
        token = http.put("/food/restaurants/wowprime/sponsored", json={"sponsored": True}).json()["token"]
        assert http.get("/food/users/A/recommendations", params={"after": token}).json()[0]["sponsored"] is True
        cuisines = http.get("/food/users/A/cuisines", params={"near_km": 10, "catch_up": True}).json()
        assert cuisines["favourites"] == [{"cuisine": "Ramen", "orders": 1}]
        assert [m["restaurant_id"] for m in cuisines["nearby"]] == ["wowprime"]
        assert http.get("/food/orders/o1").json()["total"] == "980.00"
        assert http.get("/food/restaurants/ichiran").json()["menu"][0]["item_id"] == "tonkotsu"
        assert http.post("/food/rebuild").json()["applied"] > 0
        seeded = http.post("/food/seed", json={"users": 20, "restaurants": 5, "orders": 50, "seed": 3}).json()
        assert seeded["orders"] == 50
        assert http.get("/food/users/u00001/recommendations", params={"after": seeded["token"]}).status_code == 200
        missing = http.post("/food/orders", json={"user_id": "ghost", "restaurant_id": "ichiran"})
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        bad = http.get("/food/users/A/recommendations", params={"weighting": "best"})
        assert bad.status_code == 422 and bad.json()["field"] == "weighting"


def test_tour_step_and_worker_job(tmp_path: Path) -> None:
    lines: list[str] = []
    with Runtime.open(Settings.embedded(tmp_path)) as runtime:
        tour_step(runtime, lines.append)
        svc = install(runtime)
        assert runtime.runners[NAME] is svc.runner
        svc.add_user("D", lat=35.0, lon=139.0)
        assert runtime.run_once() >= 1 and svc.lag().behind == 0  # the worker round drives the graph projection
        assert [lag.behind for lag in runtime.lags() if lag.name == NAME] == [0]
        svc.close()
    text = "\n".join(lines)
    assert "recommended to A: Wowprime Steakhouse" in text and "because of ichiran" in text
    sponsored = [line for line in lines if "recommended to A" in line][-2:]
    assert "Domino's Pizza (sponsored, placed first)" in sponsored[0] and "Wowprime" in sponsored[1]
