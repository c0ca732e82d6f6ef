"""Two tenants with the same stream ids, event ids and idempotency keys in every system: apart, on both engines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.core.errors import ConfigurationError, NotFound
from datastrata.core.tenancy import tenant
from datastrata.graph.food import FOOD_SCHEMA
from datastrata.graph.store import GraphStore
from datastrata.runtime import Runtime, Scope
from datastrata.stores.graphdb import open_graph
from datastrata.systems.fab.domain import Reading
from datastrata.systems.fab.service import FabService
from datastrata.systems.food.service import FoodService, install
from datastrata.systems.masterdata.service import MasterDataService
from datastrata.systems.match.service import MatchService
from datastrata.systems.mlops.service import MlopsService
from datastrata.systems.portfolio.service import PortfolioService

NOW = datetime(2026, 11, 2, tzinfo=UTC)
TENANTS = ("alpha", "beta")


@pytest.fixture
def runtime(store_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on each backend with a graph and an objects folder."""
    settings = Settings(store=store_url, graph=f"ladybug:///{tmp_path / 'graph'}", objects=f"file://{tmp_path}/o")
    with Runtime.open(settings, clock=FrozenClock(NOW)) as opened:
        yield opened


def test_portfolio_streams_keys_and_holders_are_per_tenant(runtime: Runtime) -> None:
    svc = PortfolioService(runtime)
    for n, who in enumerate(TENANTS, start=1):
        with tenant(who):
            svc.deposit("P1", "1000", event_id="dep-1")
            svc.buy("P1", "AAPL", str(n), "100", event_id="buy-1")
            assert svc.buy("P1", "AAPL", str(n), "100", event_id="buy-1").duplicate  # the key, per tenant
    for n, who in enumerate(TENANTS, start=1):
        with tenant(who):
            assert svc.holders("AAPL") == [{"portfolio_id": "P1", "quantity": str(n)}]
            assert len(svc.events("P1")) == 2 and svc.state("P1").holdings["AAPL"] == n
    assert svc.holders("AAPL") == []  # the default tenant holds nothing


def test_the_same_match_in_two_tenants(runtime: Runtime) -> None:
    svc = MatchService(runtime)
    for who in TENANTS:
        with tenant(who):
            svc.register_team("ARG", "Argentina", event_id="t-arg")
            svc.register_team("FRA", "France", event_id="t-fra")
            for team in ("ARG", "FRA"):
                for number in range(1, 12):
                    svc.register_player(team, number, f"{who}-{team}-{number}")
            svc.register_referee("REF", f"{who} referee")
            svc.start("M1", "ARG", "FRA", "REF", list(range(1, 12)), list(range(1, 12)), event_id="kick-off")
    with tenant("alpha"):
        svc.goal("M1", "ARG-10", minute=23)
    streams = {who: runtime.stream(Scope("match", "M1", tenant=who)) for who in TENANTS}
    assert [e.type for e in streams["alpha"]][-1] != [e.type for e in streams["beta"]][-1]  # alpha's goal only
    assert len(streams["alpha"]) == len(streams["beta"]) + 1
    for who in TENANTS:
        with tenant(who):
            assert svc.match_ids() == {"M1"}
    assert svc.match_ids() == set()


def test_masterdata_records_are_per_tenant(runtime: Runtime) -> None:
    svc: MasterDataService = runtime.service("masterdata", MasterDataService)
    for who in TENANTS:
        with tenant(who):
            attributes = {"name": f"{who} Ltd", "email": f"{who}@x.example", "address": "Tokyo", "credit_tier": "gold"}
            svc.put("customer", "C1", attributes, actor="ops", change_id="chg-1")
    for who in TENANTS:
        with tenant(who):
            assert svc.get("customer", "C1").attributes["name"] == f"{who} Ltd"
            assert len(svc.history("customer", "C1")) == 1
    with pytest.raises(NotFound):
        svc.get("customer", "C1")


def test_food_orders_and_the_graph_never_cross_tenants(runtime: Runtime) -> None:
    svc = install(runtime)
    for who in TENANTS:
        with tenant(who):
            for user in ("u1", "u2"):
                svc.add_user(user, lat=35.66, lon=139.70)
            for rid in ("r1", "r2", f"{who}-only"):
                svc.add_restaurant(rid, name=f"{who} {rid}", lat=35.66, lon=139.70, cuisines=["Ramen"])
                svc.add_menu_item(rid, f"{rid}-x", name="Noodles", price="9.50")
            svc.place_order("u1", "r1", items=["r1-x"], order_id="o1", event_id="order-key")
            svc.place_order("u2", "r1", items=["r1-x"], order_id="o2")
            svc.place_order("u2", f"{who}-only", items=[f"{who}-only-x"], order_id="o3")
    with tenant("alpha"):
        picks = svc.recommend("u1", catch_up=True)
        assert [(p.restaurant_id, p.name, p.reasons) for p in picks] == [("alpha-only", "alpha alpha-only", ("r1",))]
        liked = svc.cuisines("u1")
        assert liked["favourites"] == [{"cuisine": "Ramen", "orders": 1}]
        assert {m["restaurant_id"] for m in liked["nearby"]} == {"r2", "alpha-only"}
        assert svc.order("o1").user_id == "u1"
    with tenant("beta"):
        assert [p.restaurant_id for p in svc.recommend("u1", catch_up=True)] == ["beta-only"]
    rows = svc.graph.store.rows("MATCH (c:Cuisine) RETURN c.name ORDER BY c.name")
    assert [r[0] for r in rows] == ["alpha\x1fRamen", "beta\x1fRamen"]  # one cuisine node per tenant


def test_a_food_graph_of_the_old_key_format_is_refused_until_rebuilt(tmp_path: Path) -> None:
    graph = tmp_path / "old"
    store = GraphStore(open_graph(f"ladybug:///{graph}"), FOOD_SCHEMA)
    store.ensure_schema()
    with store.transaction() as tx:  # as an older release left it: bare ids, no key-format node
        tx.execute("CREATE (:User {id: 'u1'})")
    store.close()
    settings = Settings(store=f"sqlite:///{tmp_path / 's.db'}", graph=f"ladybug:///{graph}")
    with Runtime.open(settings, clock=FrozenClock(NOW)) as runtime:
        svc: FoodService = install(runtime)
        svc.add_user("u1", lat=35.66, lon=139.70)
        with pytest.raises(ConfigurationError, match=r"rebuild food\.graph"):
            svc.recommend("u1")
        svc.rebuild()
        assert svc.recommend("u1") == []


def test_fab_readings_and_alerts_are_per_tenant(runtime: Runtime) -> None:
    svc = FabService(runtime)
    for n, who in enumerate(TENANTS):
        with tenant(who):
            svc.register_sensors([("temp-1", "temperature")], key="sensors")
            svc.ingest("b1", [Reading("temp-1", NOW + timedelta(milliseconds=1), 90.0 + n)])
    for n, who in enumerate(TENANTS):
        with tenant(who):
            assert [a["value"] for a in svc.alerts()] == [90.0 + n]
    assert svc.alerts() == []


def test_mlops_models_are_per_tenant(runtime: Runtime) -> None:
    svc = MlopsService(runtime)
    for who in TENANTS:
        with tenant(who):
            assert not svc.models.register("churn", who.encode(), metrics={"auc": 0.8}, key="reg-1").duplicate
    for who in TENANTS:
        with tenant(who):
            assert [v.version for v in svc.models.versions("churn")] == [1]
            assert svc.models.artifact("churn", 1) == who.encode()
    assert svc.models.versions() == []
