"""Graph reads run on their own read-only connections: they answer while a projection page is open, committed only."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import pytest

from datastrata.core.errors import DatastrataError
from datastrata.core.events import Event
from datastrata.graph.projection import GraphProjectionRunner
from datastrata.runtime import Runtime
from datastrata.stores.graphdb import GraphTx
from datastrata.systems.food.projection import FoodGraphProjection
from datastrata.systems.food.service import FoodService
from datastrata.systems.food.store import OrderRequest

T0 = datetime(2025, 9, 1, 12, tzinfo=UTC)
_T = TypeVar("_T")
#: A liveness bound, not a timing: a read that queued behind the open page would never return before it commits.
HANG = 60.0


class PausingProjection(FoodGraphProjection):
    """The food projection, pausing inside its page transaction (after its writes) until released."""

    def __init__(self, svc: FoodService) -> None:
        super().__init__(svc.graph)
        self.opened = threading.Event()
        self.release = threading.Event()

    def apply_batch(self, tx: GraphTx, events: Sequence[Event]) -> None:
        super().apply_batch(tx, events)
        self.opened.set()
        assert self.release.wait(HANG), "the test never released the page"


def _in_thread(call: Callable[[], _T]) -> _T:
    """Run `call` on another thread (as a concurrent request would) and return its result."""
    box: list[_T] = []
    thread = threading.Thread(target=lambda: box.append(call()), daemon=True)
    thread.start()
    thread.join(HANG)
    assert not thread.is_alive(), "the read queued behind the open write transaction"
    return box[0]


def _ids(svc: FoodService) -> list[str]:
    return [s.restaurant_id for s in svc.recommend("A")]


def test_reads_answer_while_a_page_transaction_is_open_and_see_only_committed_pages(
    svc: FoodService, runtime: Runtime
) -> None:
    for user in ("A", "B"):
        svc.add_user(user, lat=35.66, lon=139.70)
    for rid in ("ichiran", "wowprime", "domino"):
        svc.add_restaurant(rid, name=rid.title(), lat=35.66, lon=139.70, cuisines=["Ramen"])
    svc.place_orders([OrderRequest("o1", "A", "ichiran", T0), OrderRequest("o2", "B", "ichiran", T0)])
    svc.place_orders([OrderRequest("o3", "B", "wowprime", T0)])
    svc.catch_up()
    assert _ids(svc) == ["wowprime"]
    committed = svc.runner.position()

    svc.place_orders([OrderRequest("o4", "B", "domino", T0)])  # the next page: held open by the projection
    pausing = PausingProjection(svc)
    runner = GraphProjectionRunner(runtime.log, pausing, svc.graph.store.db)
    writer = threading.Thread(target=runner.catch_up, daemon=True)
    writer.start()
    try:
        assert pausing.opened.wait(HANG)
        # While the page (domino's order, and the checkpoint) is written but not committed, reads answer, unqueued,
        # from the committed graph: no domino, the checkpoint where it was.
        assert _in_thread(lambda: _ids(svc)) == ["wowprime"]
        assert _in_thread(svc.runner.position) == committed
        edges = "MATCH (:User)-[o:ORDERED]->(:Restaurant) RETURN count(o)"
        assert _in_thread(lambda: svc.graph.store.rows(edges)) == [(3,)]
        assert writer.is_alive()  # the page is still open: the reads did not wait for it
    finally:
        pausing.release.set()
        writer.join(HANG)
    assert not writer.is_alive()
    assert _ids(svc) == ["domino", "wowprime"]  # one path each: ties go to the smaller id
    assert svc.runner.lag().behind == 0 and svc.runner.position() > committed


def test_a_read_only_transaction_refuses_writes(svc: FoodService) -> None:
    svc.add_user("A", lat=35.66, lon=139.70)
    svc.catch_up()
    with pytest.raises(DatastrataError, match="read-only"):
        svc.graph.store.rows("MERGE (u:User {id: 'Z'})")
    assert svc.graph.store.rows("MATCH (u:User) RETURN u.id") == [("A",)]
