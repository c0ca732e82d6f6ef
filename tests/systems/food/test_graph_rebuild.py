"""The graph rebuild beside the live graph: reads answer during it, a failure or a kill leaves the live graph whole."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import RebuildFailed
from datastrata.core.events import NewEvent
from datastrata.runtime import Runtime
from datastrata.stores import graphfiles
from datastrata.stores.graphdb import ladybug_path
from datastrata.systems.food import domain
from datastrata.systems.food.service import FoodService, install
from datastrata.systems.food.store import OrderRequest
from tests.systems.food.test_graph_projection import T0, _data, _state
from tests.systems.food.test_graph_reads import _in_thread

CHILD = Path(__file__).with_name("rebuild_child.py")
ROOT = Path(__file__).parents[3]


def _recommendations(svc: FoodService) -> list[tuple[str, int]]:
    return [(s.restaurant_id, s.score) for s in svc.recommend("A")]


def _graph_path(settings: Settings) -> Path:
    assert settings.graph is not None
    return ladybug_path(settings.graph)


def test_reads_answer_from_the_live_graph_during_a_rebuild_then_from_the_new_one(
    svc: FoodService, runtime: Runtime, settings: Settings
) -> None:
    _data(svc)
    svc.catch_up()
    before = _recommendations(svc)
    path = _graph_path(settings)
    svc.runner.rebuild_batch_size = 2
    seen: list[list[tuple[str, int]]] = []
    building: list[str | None] = []
    live: list[dict[str, object]] = []

    def progress(done: int, total: int) -> None:
        if 0 < done < total:  # mid-replay: the new file half built, the live one answering
            building.append(graphfiles.read_pointer(path).building)
            seen.append(_in_thread(lambda: _recommendations(svc)))
            if not live:  # the live follower goes on meanwhile: an order arrives and is applied to the live graph
                svc.place_orders([OrderRequest("during", "A", "domino", T0)])
                _in_thread(svc.catch_up)
                live.append(_state(svc))

    assert svc.rebuild(progress) == runtime.log.count()
    assert seen[0] == before and len(seen) > 1  # answered from the live graph while the new one was half built
    assert all(answer == _recommendations(svc) for answer in seen[1:])  # the live graph, with the new order
    assert building and building[0] == f"{path.name}.gen2" and set(building) == {building[0]}
    pointer = graphfiles.read_pointer(path)
    assert pointer == graphfiles.Pointer(f"{path.name}.gen2", None, 1)
    assert svc.graph.store.db.file == path.with_name(pointer.live)
    assert not path.exists() and graphfiles.generations(path) == [pointer.live]  # the old file is gone
    assert _state(svc) == live[0]  # the new graph has what the live follower applied during the rebuild too
    svc.place_orders([OrderRequest("more", "B", "domino", T0)])  # the live follower goes on in the new generation
    svc.catch_up()
    assert _state(svc)["ordered"] != live[0]["ordered"]
    assert svc.rebuild() == runtime.log.count()  # and a second rebuild switches again
    assert graphfiles.read_pointer(path).live == f"{path.name}.gen3" and not path.with_name(pointer.live).exists()


def test_a_poison_event_mid_rebuild_leaves_the_live_graph_untouched(
    svc: FoodService, runtime: Runtime, settings: Settings
) -> None:
    _data(svc)
    svc.catch_up()
    before, state = _recommendations(svc), _state(svc)
    path = _graph_path(settings)
    live = svc.graph.store.db.file
    svc.place_orders([OrderRequest("late", "C", "wowprime", T0)])
    runtime.log.append("food-poison", [NewEvent(domain.ORDER_PLACED, {"order_id": "bad"})])  # no user, no restaurant
    svc.runner.rebuild_batch_size = 2
    with pytest.raises(RebuildFailed, match="the live graph is untouched and still answers") as failed:
        svc.rebuild()
    assert "resumes at position" in str(failed.value)
    assert svc.graph.store.db.file == live and graphfiles.read_pointer(path).live == live.name
    assert _state(svc) == state and _recommendations(svc) == before  # nothing of the half-built file shows
    starts: list[int] = []
    with pytest.raises(RebuildFailed):
        svc.rebuild(lambda done, total: starts.append(done))
    assert starts[0] > 0  # the second run resumed the build, it did not start again from 0
    assert _state(svc) == state


def test_a_rebuild_killed_mid_replay_resumes_and_ends_equal_to_a_clean_build(
    settings: Settings, store_url: str
) -> None:
    path = _graph_path(settings)
    with Runtime.open(settings) as runtime:
        svc = install(runtime)
        _data(svc)
        svc.catch_up()
        clean, answers = _state(svc), _recommendations(svc)  # the graph as built page by page from the log
    assert settings.graph is not None
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.run(
        [sys.executable, str(CHILD), store_url, settings.graph, "4"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -9, child.stderr
    killed_at = int(child.stdout.split()[0])
    assert killed_at > 0  # pages were committed into the new file before the kill
    pointer = graphfiles.read_pointer(path)
    assert pointer.live == path.name and pointer.building == f"{path.name}.gen2"
    with Runtime.open(settings) as runtime:
        svc = install(runtime)
        assert _state(svc) == clean  # the live graph answered throughout; the kill did not touch it
        starts: list[int] = []
        svc.rebuild(lambda done, total: starts.append(done))
        assert starts[0] == killed_at > 0  # resumed from the rebuild's own checkpoint
        assert graphfiles.read_pointer(path) == graphfiles.Pointer(f"{path.name}.gen2", None, 1)
        assert _state(svc) == clean and _recommendations(svc) == answers
        assert svc.lag().behind == 0
