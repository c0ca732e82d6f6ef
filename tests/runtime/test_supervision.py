"""Failure boundaries: a poison event halts only its follower; backoff; dead letters; health; metrics."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from datastrata.api.app import create_app
from datastrata.catalog import install_all
from datastrata.cli import app as cli
from datastrata.core.config import Settings
from datastrata.core.errors import BackendUnavailable, RuleViolation
from datastrata.core.events import Event, NewEvent
from datastrata.projections.batching import BatchRunner
from datastrata.runtime import Runtime, Scope, deadletters
from datastrata.stores.database import Database, Tx
from datastrata.systems.food.service import FoodService
from datastrata.systems.masterdata.service import MasterDataService
from datastrata.systems.match import simulate
from datastrata.systems.match.service import MatchService
from datastrata.systems.portfolio.domain import STOCK_BOUGHT
from datastrata.systems.portfolio.service import PortfolioService
from tests.conftest import ApiClient

HOLDERS = "portfolio.holders"


def settings_for(request: pytest.FixtureRequest, store_url: str, bus: str, tmp_path: Path) -> Settings:
    """Settings on `store_url` with the in-process or the Redis bus and a graph of its own."""
    bus_url = request.getfixturevalue("redis_url") if bus == "redis" else "memory://"
    return Settings(store=store_url, bus=bus_url, graph=f"ladybug:///{tmp_path / 'graph'}")


def write_a_bit_of_everything(runtime: Runtime) -> PortfolioService:
    """Good events of every system around one malformed STOCK_BOUGHT (no symbol); the food page holds a free dish."""
    portfolio: PortfolioService = runtime.service("portfolio", PortfolioService)
    portfolio.deposit("p1", "1000")
    portfolio.buy("p1", "ACME", "2", "10")
    runtime.append(Scope("portfolio", "p-bad"), [NewEvent(STOCK_BOUGHT, {"quantity": "1", "price": "1"})])
    portfolio.buy("p1", "ACME", "1", "10")
    food = runtime.service("food", FoodService)
    food.add_restaurant("r1", name="Soba", lat=35.0, lon=139.0, cuisines=["japanese"])
    food.add_menu_item("r1", "free", name="Water", price="0.00")
    food.add_menu_item("r1", "paid", name="Soba", price="12.00")
    simulate.play(runtime.service("match", MatchService), matches=1, seed=3)
    runtime.service("masterdata", MasterDataService).put(
        "customer",
        "C1",
        {"name": "Alice", "email": "a@example.com", "address": "Tokyo", "credit_tier": "gold"},
        actor="a",
    )
    return portfolio


def rounds(runtime: Runtime, n: int = 12) -> None:
    for _ in range(n):
        runtime.run_once()


@pytest.mark.parametrize("bus", ["memory", "redis"])
def test_a_poison_event_halts_only_its_follower_and_skipping_it_lets_it_go_on(
    request: pytest.FixtureRequest,
    store_url: str,
    bus: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_client: ApiClient,
) -> None:
    settings = settings_for(request, store_url, bus, tmp_path)
    with Runtime.open(settings) as runtime:
        install_all(runtime)
        runtime.open_followers()  # this process is the worker: it owns the graph
        runtime.supervisor.base_delay = 0.0  # retry at once: this test is about halting, not waiting
        portfolio = write_a_bit_of_everything(runtime)
        rounds(runtime)

        states = {s.name: s for s in runtime.statuses(fresh=True)}
        halted = states[HOLDERS]
        assert halted.state == "halted" and "symbol" in (halted.last_error or "")
        others = [s for s in states.values() if s.name != HOLDERS and s.position is not None]
        assert "food.graph" in {s.name for s in others}
        assert others and all(s.state == "running" and s.behind == 0 for s in others), others
        food = runtime.service("food", FoodService)
        prices = food.graph.store.rows("MATCH (m:MenuItem) RETURN m.id, m.price ORDER BY m.id")
        assert prices == [("free", Decimal("0.00")), ("paid", Decimal("12.00"))]

        holders, fresh = portfolio.holders_with_freshness("ACME")  # answers from what it has, and says so
        assert holders == [{"portfolio_id": "p1", "quantity": "2"}]
        assert fresh.state == "halted" and fresh.stale_by >= 2 and "symbol" in (fresh.error or "")
        assert fresh.log == runtime.log.identity  # a position means something only in its log

        monkeypatch.setenv("DATASTRATA_STORE", settings.store)
        monkeypatch.setenv("DATASTRATA_BUS", settings.bus)
        monkeypatch.setenv("DATASTRATA_GRAPH", settings.graph)
        listed = CliRunner().invoke(cli, ["deadletters", "list", "--follower", HOLDERS, "--json"])
        assert listed.exit_code == 0, listed.output
        (letter,) = json.loads(listed.stdout)
        assert letter["attempts"] == 5 and letter["status"] == "parked" and "symbol" in letter["error"]
        assert letter["first_seen"] <= letter["last_seen"]
        failed = CliRunner().invoke(cli, ["rebuild", HOLDERS])  # the rebuild halts on the poison event too …
        assert failed.exit_code != 0 and "untouched" in failed.output, failed.output
        assert portfolio.holders_with_freshness("ACME")[0] == holders  # … and the old view keeps answering

        with api_client(create_app(settings, worker=False)) as http:
            health = http.get("/health")
            assert health.status_code == 200 and health.json()["status"] == "degraded"
            assert health.json()["not_running"] == [HOLDERS]
            (row,) = [f for f in health.json()["followers"] if f["name"] == HOLDERS]
            assert row["state"] == "halted" and "symbol" in row["last_error"]
            answer = http.get("/holders/ACME")
            assert answer.status_code == 200 and answer.headers["X-Datastrata-Follower-State"] == "halted"
            if bus == "redis":  # the HTTP route on one variant, the CLI on the other
                skipped = http.post(f"/deadletters/{letter['id']}/skip")
                assert skipped.status_code == 200 and skipped.json()["status"] == "skipped"
        if bus == "memory":
            skipped_cli = CliRunner().invoke(cli, ["deadletters", "skip", str(letter["id"])])
            assert skipped_cli.exit_code == 0, skipped_cli.output

        rounds(runtime, 3)
        resumed = {s.name: s for s in runtime.statuses(fresh=True)}[HOLDERS]
        assert resumed.state == "running" and resumed.behind == 0
        assert portfolio.holders("ACME") == [{"portfolio_id": "p1", "quantity": "3"}]  # the buy after it applied
        rebuilt = CliRunner().invoke(cli, ["rebuild", HOLDERS])  # the operator's skip holds in a rebuild: it succeeds
        assert rebuilt.exit_code == 0, rebuilt.output
        assert portfolio.holders("ACME") == [{"portfolio_id": "p1", "quantity": "3"}]


class Counted:
    """A projection that fails while `broken` (on events whose n is in `bad`, or on every event)."""

    name = "test.counted"
    event_types = frozenset({"Counted"})

    def __init__(self) -> None:
        self.broken = True
        self.bad: set[int] | None = None
        self.failure: type[Exception] = RuntimeError

    def setup(self, db: Database) -> None:
        db.ensure_schema(self.name, lambda d: "CREATE TABLE IF NOT EXISTS counted (n INTEGER PRIMARY KEY);")

    def apply(self, tx: Tx, event: Event) -> None:
        n = int(event.payload["n"])
        if self.broken and (self.bad is None or n in self.bad):
            raise self.failure(f"cannot count {n} at redis://user:hunter2@cache:6379/0")
        tx.execute("INSERT INTO counted (n) VALUES (?)", (n,))

    def clear(self, tx: Tx) -> None:
        tx.execute("DELETE FROM counted")


def counted(runtime: Runtime) -> list[int]:
    with runtime.db.read() as tx:
        return [int(r[0]) for r in tx.query("SELECT n FROM counted ORDER BY n")]


def test_a_failing_follower_backs_off_is_retried_later_and_runs_again_when_it_recovers(sqlite_url: str) -> None:
    with Runtime.open(Settings(store=sqlite_url)) as runtime:
        now = [100.0]
        runtime.supervisor.monotonic = lambda: now[0]
        projection = Counted()
        projection.failure = BackendUnavailable  # a store failure: backs off, never blamed on the event
        runner = runtime.register(projection)
        runtime.append(Scope("test", "s"), [NewEvent("Counted", {"n": 1})])
        calls: list[float] = []
        original = runner.run_once
        runner_boundary = runtime.supervisor.boundaries[projection.name]

        def step() -> int:
            calls.append(now[0])
            return original()

        runner_boundary.step = step

        runtime.run_once()
        (status,) = [s for s in runtime.statuses() if s.name == projection.name]
        assert status.state == "backing-off" and "hunter2" not in (status.last_error or "")
        assert "cannot count 1" in (status.last_error or "")
        runtime.run_once()
        assert len(calls) == 1  # not retried on every round
        now[0] += 0.5
        runtime.run_once()
        assert len(calls) == 2 and runner_boundary.failures == 2  # the next wait doubles: 1 s
        now[0] += 0.5
        runtime.run_once()
        assert len(calls) == 2
        projection.broken = False
        now[0] += 0.6
        runtime.run_once()
        assert len(calls) == 3 and runner_boundary.state == "running" and counted(runtime) == [1]
        assert runtime.dead_letters.list() == []


class Batched(Counted):
    """The same, folding a page at once (a failure anywhere fails the whole page)."""

    def apply_batch(self, tx: Tx, events: Sequence[Event]) -> None:
        for event in events:
            self.apply(tx, event)


def test_a_batch_follower_parks_the_failing_event_not_the_page_and_a_skip_policy_goes_on(sqlite_url: str) -> None:
    with Runtime.open(Settings(store=sqlite_url)) as runtime:
        runtime.supervisor.base_delay = 0.0
        batched = Batched()
        batched.bad = {3}
        runtime.attach(BatchRunner(runtime.log, batched, batch_size=100), policy="skip")
        for n in range(1, 6):
            runtime.append(Scope("test", f"s{n}"), [NewEvent("Counted", {"n": n})])
        rounds(runtime, 6)
        (letter,) = runtime.dead_letters.list(batched.name)
        bad = next(e for e in runtime.log.read_all() if e.payload.get("n") == 3)
        assert (letter.event_id, letter.position, letter.attempts) == (bad.event_id, bad.position, 5)
        assert counted(runtime) == [1, 2, 4, 5]  # skip: parked, and the follower went on
        assert runtime.supervisor.boundaries[batched.name].state == "running"
        batched.broken = False
        assert deadletters.retry(runtime, letter.id).status == "resolved"  # applied alone, out of order
        assert counted(runtime) == [1, 2, 3, 4, 5]


def test_a_halted_follower_resumes_when_the_operator_retries_after_the_fix(sqlite_url: str) -> None:
    with Runtime.open(Settings(store=sqlite_url)) as runtime:
        runtime.supervisor.base_delay = 0.0
        projection = Counted()
        projection.bad = {2}
        runtime.register(projection)
        for n in (1, 2, 3):
            runtime.append(Scope("test", f"s{n}"), [NewEvent("Counted", {"n": n})])
        rounds(runtime, 8)
        (letter,) = runtime.dead_letters.list(projection.name)
        assert runtime.supervisor.boundaries[projection.name].state == "halted" and counted(runtime) == [1]
        with pytest.raises(RuleViolation, match="again"):
            deadletters.retry(runtime, letter.id)  # still broken: it says so and stays parked
        assert runtime.dead_letters.get(letter.id).status == "parked"
        projection.broken = False
        assert deadletters.retry(runtime, letter.id).status == "resolved"
        rounds(runtime, 2)
        assert counted(runtime) == [1, 2, 3] and runtime.supervisor.boundaries[projection.name].state == "running"


def test_a_rebuild_after_the_fix_resolves_the_parked_letter_and_releases_the_halt(sqlite_url: str) -> None:
    with Runtime.open(Settings(store=sqlite_url)) as runtime:
        runtime.supervisor.base_delay = 0.0
        projection = Counted()
        projection.bad = {2}
        runner = runtime.register(projection)
        for n in (1, 2, 3):
            runtime.append(Scope("test", f"s{n}"), [NewEvent("Counted", {"n": n})])
        rounds(runtime, 8)
        assert runtime.supervisor.boundaries[projection.name].state == "halted"
        projection.broken = False
        assert runner.rebuild() == 3
        rounds(runtime, 1)
        assert runtime.supervisor.boundaries[projection.name].state == "running"
        assert [x.status for x in runtime.dead_letters.list(projection.name)] == ["resolved"]


def test_metrics_parse_as_prometheus_text_with_per_follower_series(tmp_path: Path, api_client: ApiClient) -> None:
    settings = Settings(store=f"sqlite:///{tmp_path / 'm.db'}", graph=f"ladybug:///{tmp_path / 'graph'}")
    with api_client(create_app(settings)) as http:  # with its worker: it owns (and reports) the graph
        assert http.get("/holders/ACME").status_code == 200
        assert http.get("/holders/bad symbol!").status_code == 422
        text = http.get("/metrics")
        assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
        ready = http.get("/ready")
        assert ready.status_code == 200 and ready.json()["checks"]["store"] == "ok"
    families = {f.name: f for f in text_string_to_metric_families(text.text)}
    followers = {s.labels["follower"] for s in families["datastrata_follower_lag_events"].samples}
    assert {"portfolio.holders", "food.graph", "match.tv"} <= followers
    states = [s for s in families["datastrata_follower_state"].samples if s.labels["follower"] == "food.graph"]
    assert {s.labels["state"]: s.value for s in states} == {"running": 1.0, "backing-off": 0.0, "halted": 0.0}
    assert "datastrata_dead_letters" in families
    routes = {s.labels["route"] for s in families["datastrata_http_requests"].samples}
    assert "/holders/{symbol}" in routes
    errors = [s for s in families["datastrata_http_errors"].samples if s.name.endswith("_total")]
    assert any(s.labels["status"] == "422" for s in errors)
    assert any(s.name == "datastrata_http_request_duration_seconds_count" for s in families[
        "datastrata_http_request_duration_seconds"].samples)  # fmt: skip


@pytest.mark.parametrize("bus", ["memory", "redis"])
def test_a_bus_consumer_parks_what_it_cannot_handle_and_an_operator_retry_delivers_it(
    request: pytest.FixtureRequest, sqlite_url: str, bus: str, tmp_path: Path
) -> None:
    settings = settings_for(request, sqlite_url, bus, tmp_path)
    with Runtime.open(settings) as runtime:
        handled: list[int] = []
        broken = [True]

        def handler(event: Event) -> None:
            if broken[0]:
                raise RuntimeError("downstream is read-only")
            handled.append(int(event.payload["n"]))

        runtime.bus.subscribe("test.consumer", handler, types={"Counted"}, attempts=2)
        for n in (1, 2):
            runtime.append(Scope("test", f"s{n}"), [NewEvent("Counted", {"n": n})])
        rounds(runtime, 3)
        letters = runtime.dead_letters.list("test.consumer")
        assert [x.status for x in letters] == ["parked", "parked"] and letters[0].attempts == 2
        assert all(s.state == "running" for s in runtime.statuses())  # a consumer skips: nothing halts
        broken[0] = False
        assert [deadletters.retry(runtime, x.id).status for x in letters] == ["resolved", "resolved"]
        assert handled == [1, 2]
        with pytest.raises(RuleViolation, match="resolved already"):
            deadletters.skip(runtime, letters[0].id)


def test_ready_is_down_when_a_readiness_check_fails_and_lag_shows_states(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(store=f"sqlite:///{tmp_path / 'r.db'}", graph=f"ladybug:///{tmp_path / 'graph'}")
    with TestClient(create_app(settings, worker=False)) as http:

        def migrations() -> None:
            raise BackendUnavailable("2 migrations are not applied at postgresql://app:s3cret@db/x; run migrate")

        http.app.state.runtime.readiness["migrations"] = migrations  # type: ignore[attr-defined]
        ready = http.get("/ready")
        assert ready.status_code == 503 and ready.json()["status"] == "down"
        assert "not applied" in ready.json()["checks"]["migrations"] and "s3cret" not in ready.text
        health = http.get("/health")
        assert health.status_code == 200  # liveness does not run readiness checks
        assert health.json()["not_opened"] == ["food.graph"]  # no worker here: the graph's owner reports it
    monkeypatch.setenv("DATASTRATA_STORE", settings.store)
    monkeypatch.setenv("DATASTRATA_GRAPH", settings.graph)
    shown = CliRunner().invoke(cli, ["lag", "--json"])
    assert shown.exit_code == 0, shown.output
    rows = {r["name"]: r for r in json.loads(shown.stdout)}
    assert rows["portfolio.holders"]["state"] == "running" and rows["portfolio.holders"]["behind"] == 0
    assert rows["food.graph"]["opened"] is False  # the graph's owner reports it


def test_a_price_the_graph_cannot_hold_halts_the_graph_alone_until_it_is_skipped(tmp_path: Path) -> None:
    from datastrata.systems.food import domain

    settings = Settings(store=f"sqlite:///{tmp_path / 'f.db'}", graph=f"ladybug:///{tmp_path / 'graph'}")
    with Runtime.open(settings) as runtime:
        install_all(runtime)
        runtime.open_followers()
        runtime.supervisor.base_delay = 0.0
        food = runtime.service("food", FoodService)
        food.add_restaurant("r1", name="Soba", lat=35.0, lon=139.0)
        huge = {"item_id": "gold", "restaurant_id": "r1", "name": "Gold", "price": "1e15", "ingredients": []}
        runtime.append(Scope("food", "menu-r1"), [NewEvent(domain.MENU_ITEM_ADDED, huge)])
        food.add_menu_item("r1", "soba", name="Soba", price="12.00")
        runtime.service("portfolio", PortfolioService).deposit("p1", "10")
        rounds(runtime, 8)
        states = {s.name: s for s in runtime.statuses(fresh=True)}
        assert states["food.graph"].state == "halted" and states["match.tv"].state == "running"
        (letter,) = runtime.dead_letters.list("food.graph")
        assert deadletters.skip(runtime, letter.id).status == "skipped"
        rounds(runtime, 2)
        assert {s.name: s for s in runtime.statuses(fresh=True)}["food.graph"].state == "running"
        assert food.graph.store.rows("MATCH (m:MenuItem) RETURN m.id") == [("soba",)]
