"""GraphProjectionRunner: the checkpoint is a node in the graph, moved in the same transaction as the page."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from datastrata.core.errors import ConsistencyTimeout, EventFailed, RebuildFailed, ValidationError
from datastrata.core.events import Event, NewEvent
from datastrata.eventlog.log import EventLog
from datastrata.graph.projection import GraphCheckpoints, GraphProjectionRunner
from datastrata.stores.graphdb import GraphDatabase, GraphTx, open_graph
from datastrata.stores.open import open_database


class Counter:
    """Counts 'Hit' events per key on Key nodes."""

    name = "counter"
    event_types: frozenset[str] | None = frozenset({"Hit"})

    def __init__(self, db: GraphDatabase) -> None:
        db.ensure_schema(["CREATE NODE TABLE IF NOT EXISTS Key(id STRING, hits INT64, PRIMARY KEY(id))"])
        self.pages: list[int] = []

    def apply_batch(self, tx: GraphTx, events: Sequence[Event]) -> None:
        self.pages.append(len(events))
        for event in events:
            tx.execute(
                "MERGE (k:Key {id: $id}) ON CREATE SET k.hits = 1 ON MATCH SET k.hits = k.hits + 1",
                {"id": event.payload["key"]},
            )

    def clear(self, tx: GraphTx) -> None:
        tx.execute("MATCH (k:Key) DELETE k")


def hits(db: GraphDatabase) -> dict[str, int]:
    return {str(k): int(n) for k, n in db.execute("MATCH (k:Key) RETURN k.id, k.hits")}


@pytest.fixture
def log(tmp_path: Path) -> EventLog:
    return EventLog(open_database(f"sqlite:///{tmp_path / 'log.db'}"))


def test_pages_checkpoint_rebuild_and_lag(log: EventLog, tmp_path: Path) -> None:
    graph = open_graph(tmp_path / "g")
    projection = Counter(graph)
    runner = GraphProjectionRunner(log, projection, graph, batch_size=3, catch_up_batch_size=2, checkpoint_every=3)
    for key in "abca":
        log.append(f"s-{key}", [NewEvent("Hit", {"key": key})])
    log.append("noise", [NewEvent("Other", {})])
    assert runner.lag().behind == 5
    assert runner.catch_up() == 4
    assert projection.pages == [2, 2] and hits(graph) == {"a": 2, "b": 1, "c": 1}
    assert runner.position() == log.head() and runner.lag().behind == 0  # past the filtered-out event too
    assert runner.run_once() == 0
    assert GraphCheckpoints(graph).updated_at("counter") is not None
    assert runner.rebuild() == 4 and hits(graph) == {"a": 2, "b": 1, "c": 1}
    token = log.append("s-b", [NewEvent("Hit", {"key": "b"})]).position
    runner.wait_for(token)
    assert hits(graph)["b"] == 2
    with pytest.raises(ConsistencyTimeout):
        runner.wait_for(token + 100, timeout=0.05)
    with pytest.raises(ValidationError, match="token"):
        runner.wait_for(-1)
    graph.close()


def test_a_failed_page_moves_nothing(log: EventLog, tmp_path: Path) -> None:
    graph = open_graph(tmp_path / "g")

    class Failing(Counter):
        def apply_batch(self, tx: GraphTx, events: Sequence[Event]) -> None:
            super().apply_batch(tx, events)
            raise RuntimeError("crash after the upserts")

    log.append("s", [NewEvent("Hit", {"key": "a"})])
    with pytest.raises(EventFailed, match="crash after the upserts"):
        GraphProjectionRunner(log, Failing(graph), graph).run_once()
    runner = GraphProjectionRunner(log, Counter(graph), graph)
    assert runner.position() == 0 and hits(graph) == {}
    assert runner.run_once() == 1 and hits(graph) == {"a": 1}
    graph.close()


def test_a_failed_graph_rebuild_leaves_the_live_graph_untouched(log: EventLog, tmp_path: Path) -> None:
    graph = open_graph(tmp_path / "g")
    projection = Counter(graph)
    runner = GraphProjectionRunner(log, projection, graph, rebuild_batch_size=2)
    for key in "abcab":
        log.append(f"s-{key}", [NewEvent("Hit", {"key": key})])
    runner.catch_up()
    before, position = hits(graph), runner.position()
    log.append("s-bad", [NewEvent("Hit", {"nokey": True})])  # a poison event: the projection cannot fold it
    with pytest.raises(RebuildFailed, match="the live graph is untouched and still answers"):
        runner.rebuild()
    assert hits(graph) == before and runner.position() == position  # the old graph, whole, and its checkpoint
    graph.close()


def test_commits_that_apply_nothing_still_fold_the_write_ahead_log(log: EventLog, tmp_path: Path) -> None:
    """Pages of other events only move the checkpoint, yet each commit grows the WAL (and memory) until a fold."""
    graph = open_graph(tmp_path / "g")
    graph.disable_auto_checkpoint()
    runner = GraphProjectionRunner(log, Counter(graph), graph, fold_when_idle_after_commits=5, fold_after_commits=8)
    wal = tmp_path / "g.wal"
    grown = []
    for n in range(12):  # every page holds only an event the projection does not fold: applied(0) each time
        log.append(f"noise-{n}", [NewEvent("Other", {})])
        assert runner.run_once() == 0
        grown.append(wal.stat().st_size if wal.exists() else 0)
    # folded at the 8th commit, not before: pages that apply nothing count
    assert grown[:7] == sorted(grown[:7]) and grown[6] > 0 and grown[7] == 0
    for _ in range(3):
        log.append("noise-idle", [NewEvent("Other", {})])
        runner.run_once()
    before_idle = wal.stat().st_size if wal.exists() else 0
    runner.run_once()  # nothing new: idle, 7 commits since the fold ≥ 5
    assert (wal.stat().st_size if wal.exists() else 0) < before_idle
