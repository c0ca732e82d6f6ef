"""The graph path: events → graph, idempotent, checkpointed in the graph, resuming after a crash mid-batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from datastrata.core.events import Event
from datastrata.graph.projection import GraphProjectionRunner
from datastrata.runtime import Runtime
from datastrata.stores.graphdb import GraphTx
from datastrata.systems.food.projection import FoodGraphProjection
from datastrata.systems.food.service import FoodService
from datastrata.systems.food.store import OrderRequest

T0 = datetime(2025, 9, 1, 12, tzinfo=UTC)


def _data(svc: FoodService) -> None:
    for user in ("A", "B", "C"):
        svc.add_user(user, lat=35.66, lon=139.70)
    for rid, cuisines in (("ichiran", ["Ramen"]), ("wowprime", ["Steak"]), ("domino", ["Pizza", "American"])):
        svc.add_restaurant(rid, name=rid.title(), address=f"{rid} street", lat=35.66, lon=139.70, cuisines=cuisines)
    svc.add_menu_item("ichiran", "tonkotsu", name="Tonkotsu", price="980", ingredients=["pork"])
    svc.favorite("A", "wowprime")
    requests = [
        OrderRequest(f"o{i}", user, rid, T0 + timedelta(hours=i), rating)
        for i, (user, rid, rating) in enumerate(
            [("A", "ichiran", 5), ("B", "ichiran", None), ("B", "wowprime", 4), ("B", "wowprime", 2),
             ("C", "ichiran", 3), ("C", "domino", None), ("A", "ichiran", None)]
        )
    ]  # fmt: skip
    svc.place_orders(requests)
    svc.set_sponsored("domino")


def _state(svc: FoodService) -> dict[str, Any]:
    rows = svc.graph.store.rows
    return {
        "ordered": rows(
            "MATCH (u:User)-[o:ORDERED]->(r:Restaurant) RETURN u.id, r.id, o.count, o.rating, o.last_date "
            "ORDER BY u.id, r.id"
        ),
        "restaurants": rows("MATCH (r:Restaurant) RETURN r.id, r.name, r.address, r.sponsored ORDER BY r.id"),
        "users": rows("MATCH (u:User) RETURN u.id, u.lat, u.lon ORDER BY u.id"),
        "serves": rows("MATCH (r:Restaurant)-[:SERVES]->(c:Cuisine) RETURN r.id, c.name ORDER BY r.id, c.name"),
        "offers": rows("MATCH (:Restaurant)-[:OFFERS]->(m:MenuItem)-[:CONTAINS]->(i:Ingredient) RETURN m.id, i.name"),
        "favorited": rows("MATCH (u:User)-[:FAVORITED]->(r:Restaurant) RETURN u.id, r.id"),
    }


def test_graph_is_built_from_the_log_alone(svc: FoodService, runtime: Runtime) -> None:
    _data(svc)
    assert svc.lag().behind == runtime.log.count()
    svc.catch_up()
    state = _state(svc)
    assert [(u, r, n, rating) for u, r, n, rating, _ in state["ordered"]] == [
        ("A", "ichiran", 2, 5), ("B", "ichiran", 1, None), ("B", "wowprime", 2, 2),
        ("C", "domino", 1, None), ("C", "ichiran", 1, 3),
    ]  # fmt: skip
    assert state["restaurants"][0] == ("domino", "Domino", "domino street", True)
    assert state["serves"] == [("domino", "American"), ("domino", "Pizza"), ("ichiran", "Ramen"), ("wowprime", "Steak")]
    assert state["offers"] == [("tonkotsu", "pork")] and state["favorited"] == [("A", "wowprime")]
    assert svc.lag().behind == 0 and svc.runner.position() >= runtime.log.head()
    # Rebuilt twice from the log: the same graph, counts not doubled.
    assert svc.rebuild() == runtime.log.count()
    assert svc.rebuild() == runtime.log.count()
    assert _state(svc) == state


def test_a_stale_page_is_not_applied_again(svc: FoodService, runtime: Runtime) -> None:
    # ORDERED edges keep no order ids: the checkpoint node, read inside the page's transaction, is what makes a
    # redelivered page (a second runner, a stale position) a no-op.
    _data(svc)
    svc.catch_up()
    before = _state(svc)
    other = GraphProjectionRunner(runtime.log, FoodGraphProjection(svc.graph), svc.graph.store.db, batch_size=3)
    assert other.catch_up() == 0
    other.position = lambda: 0  # type: ignore[method-assign]  # it read the checkpoint before the first run
    assert other.run_once() == 0
    assert _state(svc) == before


class Crashing(FoodGraphProjection):
    """Applies the page, then fails before the transaction commits (the n-th call only)."""

    def __init__(self, inner: FoodGraphProjection, crash_on: int) -> None:
        super().__init__(inner.graph)
        self.calls = 0
        self.crash_on = crash_on

    def apply_batch(self, tx: GraphTx, events: Sequence[Event]) -> None:
        self.calls += 1
        super().apply_batch(tx, events)
        if self.calls == self.crash_on:
            raise RuntimeError("power cut mid-batch")


@pytest.mark.parametrize("crash_on", [1, 2])
def test_a_crash_mid_batch_resumes_without_double_counting(svc: FoodService, runtime: Runtime, crash_on: int) -> None:
    _data(svc)
    crashing = Crashing(FoodGraphProjection(svc.graph), crash_on)
    runner = GraphProjectionRunner(runtime.log, crashing, svc.graph.store.db, catch_up_batch_size=8)
    # The crashed page rolled back whole and was applied again event by event (how a follower isolates a bad
    # event): a passing failure heals in the same call, and nothing is counted twice.
    runner.catch_up()
    assert runner.position() >= runtime.log.head()
    total = svc.graph.store.rows("MATCH ()-[o:ORDERED]->() RETURN sum(o.count)")
    assert total == [(7,)]
