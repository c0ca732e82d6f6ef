"""One idempotency rule on every system and surface, on SQLite and PostgreSQL: replay, refusal, twins, sweep."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from datastrata.api import create_app
from datastrata.cli import app as cli_app
from datastrata.core.config import Settings
from datastrata.core.errors import RuleViolation, ValidationError
from datastrata.runtime import Runtime
from datastrata.stores.database import Database
from datastrata.systems.food.service import FoodService
from datastrata.systems.masterdata.service import MasterDataService
from datastrata.systems.match.service import MatchService
from datastrata.systems.portfolio.service import PortfolioService
from datastrata.writes.idempotency import RETENTION, Claim, Sweeper, sweep
from tests.conftest import ApiClient
from tests.systems.match.conftest import LINEUP, MATCH, register

P = "idem-portfolio"


def keys(db: Database) -> int:
    """Return how many idempotency keys are stored."""
    with db.read() as tx:
        row = tx.one("SELECT count(*) FROM idempotency_keys")
    assert row is not None
    return int(row[0])


@pytest.fixture
def runtime(store_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on each backend (the food graph in its own file)."""
    with Runtime.open(Settings(store=store_url, graph=f"ladybug:///{tmp_path / 'graph'}")) as opened:
        yield opened


def test_a_replay_returns_the_stored_result_and_writes_nothing_on_every_system(runtime: Runtime) -> None:
    portfolio = PortfolioService(runtime)
    match = MatchService(runtime)
    register(match)
    match.start(MATCH, "ARG", "FRA", "MARCINIAK", LINEUP, LINEUP)
    masterdata: MasterDataService = runtime.service("masterdata", MasterDataService)
    food: FoodService = runtime.service("food", FoodService)
    food.add_user("u1", lat=35.0, lon=139.0)
    food.add_restaurant("r1", name="Ramen", lat=35.0, lon=139.0)
    food.add_menu_item("r1", "m1", name="Tonkotsu", price="980.00")
    commands: list[tuple[Callable[[], Any], Callable[[], Any]]] = [
        (lambda: portfolio.deposit(P, "100", event_id="k1"), lambda: portfolio.deposit(P, "101", event_id="k1")),
        (
            lambda: match.goal(MATCH, "ARG-10", minute=30, event_id="k1"),
            lambda: match.goal(MATCH, "ARG-9", minute=30, event_id="k1"),
        ),
        (
            lambda: masterdata.put("customer", "C1", {"name": "Alice"}, actor="ops", change_id="k1"),
            lambda: masterdata.put("customer", "C1", {"name": "Bob"}, actor="ops", change_id="k1"),
        ),
        (
            lambda: food.place_order("u1", "r1", items=["m1"], event_id="k1"),
            lambda: food.place_order("u1", "r1", items=["m1", "m1"], event_id="k1"),
        ),
        (
            lambda: food.favorite("u1", "r1", event_id="k1"),
            lambda: food.favorite("u1", "r9", event_id="k1"),
        ),
    ]
    for first_call, other_call in commands:
        first = first_call()
        head, stored = runtime.log.head(), keys(runtime.db)
        again = first_call()
        assert again.duplicate and again.token == first.token and runtime.log.head() == head
        assert keys(runtime.db) == stored  # one key per command type: the same key in another type is its own
        with pytest.raises(RuleViolation, match="'k1' was already used") as refused:
            other_call()
        assert refused.value.status == 409 and runtime.log.head() == head
    # The stored result, not today's state: after more goals the keyed goal still answers its own position.
    first_goal = match.goal(MATCH, "ARG-10", minute=30, event_id="k1")
    match.goal(MATCH, "FRA-9", minute=40)
    replay = match.goal(MATCH, "ARG-10", minute=30, event_id="k1")
    assert replay.to_dict()["events"] == first_goal.to_dict()["events"] and replay.log_id == runtime.log.identity


def test_match_and_portfolio_keys_are_scoped_by_tenant_and_command(runtime: Runtime) -> None:
    portfolio = PortfolioService(runtime)
    deposit = portfolio.deposit(P, "100", event_id="same")
    withdrawal = portfolio.withdraw(P, "40", event_id="same")  # another command type: its own key
    assert (deposit.duplicate, withdrawal.duplicate) == (False, False)
    assert portfolio.state(P).cash == 60


def test_a_key_must_be_printable_ascii_and_nothing_is_written(runtime: Runtime) -> None:
    portfolio = PortfolioService(runtime)
    for bad in ("", "   ", "x" * 201, "caf\u00e9"):
        with pytest.raises(ValidationError, match="idempotency key"):
            portfolio.deposit(P, "1", event_id=bad)
    assert runtime.log.head() == 0


def test_concurrent_twins_both_get_the_stored_result_with_one_effect(pg_url: str) -> None:
    with Runtime.open(Settings(store=pg_url)) as runtime:
        portfolio = PortfolioService(runtime)
        match = MatchService(runtime)
        register(match)
        match.start(MATCH, "ARG", "FRA", "MARCINIAK", LINEUP, LINEUP)
        masterdata: MasterDataService = runtime.service("masterdata", MasterDataService)
        alice = {"name": "Alice"}
        gate = threading.Barrier(8)

        def twin(run: Callable[[], Any]) -> Any:
            gate.wait()
            return run()

        with ThreadPoolExecutor(8) as pool:
            deposits = list(pool.map(lambda _: twin(lambda: portfolio.deposit(P, "5", event_id="twin")), range(8)))
            goals = list(
                pool.map(lambda _: twin(lambda: match.goal(MATCH, "ARG-10", minute=5, event_id="twin")), range(8))
            )
            changes = list(
                pool.map(
                    lambda _: twin(lambda: masterdata.put("customer", "C1", alice, actor="ops", change_id="twin")),
                    range(8),
                )
            )
        assert len({d.token for d in deposits}) == 1 and sum(not d.duplicate for d in deposits) == 1
        assert portfolio.state(P).cash == 5 and len(portfolio.events(P)) == 1
        assert len({g.token for g in goals}) == 1 and sum(not g.duplicate for g in goals) == 1
        assert match.analytics(MATCH, catch_up=True)["teams"][0]["goals"] == 1
        assert len({c.version_id for c in changes}) == 1 and sum(not c.duplicate for c in changes) == 1
        assert len(masterdata.history("customer", "C1")) == 1


def test_http_header_or_body_key_replays_refuses_and_a_mismatch_is_422(store_url: str, api_client: ApiClient) -> None:
    with api_client(create_app(Settings(store=store_url))) as http:
        url = f"/portfolios/{P}/deposits"
        first = http.post(url, json={"amount": "10"}, headers={"Idempotency-Key": "h1"})
        assert first.status_code == 201 and first.json()["log"] and first.json()["token"] == first.json()["position"]
        again = http.post(url, json={"amount": "10", "event_id": "h1"}, headers={"Idempotency-Key": "h1"})
        assert again.json() == {**first.json(), "duplicate": True}
        other = http.post(url, json={"amount": "11"}, headers={"Idempotency-Key": "h1"})
        assert other.status_code == 409 and "'h1'" in other.json()["detail"]
        mismatch = http.post(url, json={"amount": "10", "event_id": "b1"}, headers={"Idempotency-Key": "h1"})
        assert mismatch.status_code == 422 and mismatch.json()["field"] == "Idempotency-Key"
        assert len(http.get(f"/portfolios/{P}/events").json()["items"]) == 1

        put = {"attributes": {"name": "Alice"}, "change_id": "c1"}
        changed = http.put("/masterdata/customer/C1", json=put)
        assert changed.status_code == 200 and {"token", "log"} <= set(changed.json())
        replay = http.put("/masterdata/customer/C1", json=put, headers={"Idempotency-Key": "c1"})
        assert replay.json() == {**changed.json(), "duplicate": True}
        assert http.put("/masterdata/customer/C1", json={**put, "reason": "x"}).status_code == 409

        http.put("/food/users/u1", json={"lat": 35.0, "lon": 139.0})
        http.put("/food/restaurants/r1", json={"name": "Ramen", "lat": 35.0, "lon": 139.0})
        http.put("/food/restaurants/r1/menu/m1", json={"name": "Tonkotsu", "price": "980.00"})
        order = {"user_id": "u1", "restaurant_id": "r1", "items": ["m1"], "event_id": "o1"}
        placed = http.post("/food/orders", json=order)
        assert placed.status_code == 200 and placed.json()["log"]
        assert http.post("/food/orders", json=order).json() == {**placed.json(), "duplicate": True}
        assert http.post("/food/orders", json={**order, "rating": 5}).status_code == 409


def test_match_http_retried_goal_is_recorded_once(sqlite_url: str, api_client: ApiClient) -> None:
    with api_client(create_app(Settings(store=sqlite_url))) as http:
        http.post("/match/teams", json={"code": "ARG", "name": "Argentina"})
        http.post("/match/teams", json={"code": "FRA", "name": "France"})
        for team in ("ARG", "FRA"):
            for number in range(1, 12):
                http.post("/match/players", json={"team": team, "number": number, "name": f"{team}{number}"})
        http.post("/match/referees", json={"referee_id": "REF", "name": "Ref"})
        lineup = list(range(1, 12))
        start = {"match_id": "M1", "home": "ARG", "away": "FRA", "referee": "REF"}
        assert (
            http.post("/match/matches", json={**start, "home_lineup": lineup, "away_lineup": lineup}).status_code == 201
        )
        goal = {"player": "ARG-10", "minute": 30}
        first = http.post("/match/matches/M1/goals", json=goal, headers={"Idempotency-Key": "g-1"})
        again = http.post("/match/matches/M1/goals", json=goal, headers={"Idempotency-Key": "g-1"})
        assert first.status_code == again.status_code == 201 and again.json() == {**first.json(), "duplicate": True}
        other = http.post("/match/matches/M1/goals", json={**goal, "minute": 31}, headers={"Idempotency-Key": "g-1"})
        assert other.status_code == 409 and "g-1" in other.json()["detail"]


def test_cli_event_id_replays_and_other_content_exits_2(sqlite_url: str) -> None:
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli_app, ["--store", sqlite_url, *args])

    first = run("portfolio", "deposit", P, "10", "--event-id", "cli-1", "--json")
    assert first.exit_code == 0, first.stderr
    body = json.loads(first.stdout)
    assert body["log"] and body["token"] == body["position"]
    again = run("portfolio", "deposit", P, "10", "--event-id", "cli-1", "--json")
    assert json.loads(again.stdout) == {**body, "duplicate": True}
    other = run("portfolio", "deposit", P, "12", "--event-id", "cli-1")
    assert other.exit_code == 2 and "'cli-1'" in other.stderr
    put = ["masterdata", "put", "customer", "C1", "--set", "name=Alice", "--event-id", "m-1", "--json"]
    changed = run(*put)
    assert changed.exit_code == 0, changed.stderr
    assert {"token", "log"} <= set(json.loads(changed.stdout))
    assert json.loads(run(*put).stdout)["duplicate"] is True


def test_the_sweep_removes_keys_past_the_retention_only(db: Database) -> None:
    from datastrata.writes.idempotency import MIGRATIONS

    db.ensure(MIGRATIONS)
    now = datetime(2026, 1, 10, tzinfo=UTC)
    with db.transaction() as tx:
        Claim.of("default", "portfolio.deposit", "old", {}).remember_in(tx, {}, now - RETENTION - timedelta(seconds=1))
        Claim.of("default", "portfolio.deposit", "young", {}).remember_in(tx, {}, now - timedelta(hours=24))
    assert sweep(db, now=now) == 1 and keys(db) == 1
    with db.read() as tx:
        assert Claim.of("default", "portfolio.deposit", "young", {}).stored_in(tx) == {}
        assert Claim.of("default", "portfolio.deposit", "old", {}).stored_in(tx) is None
    with pytest.raises(ValidationError, match="at least 24 hours"):
        sweep(db, now=now, retention=timedelta(hours=23))


def test_the_worker_job_sweeps_every_location(store_url: str) -> None:
    with Runtime.open(Settings(store=store_url)) as runtime:
        PortfolioService(runtime).deposit(P, "1", event_id="aged")
        later = Sweeper(runtime, clock=lambda: datetime.now(UTC) + RETENTION + timedelta(minutes=1))
        assert keys(runtime.db) == 1 and later() == 1 and keys(runtime.db) == 0
        assert later() == 0  # at most once per hour per process
        assert "idempotency.sweep" in runtime.jobs
