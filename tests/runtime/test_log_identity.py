"""Derived stores know their source: a graph, checkpoints or a bus stream made against one log refuse another."""

from __future__ import annotations

from pathlib import Path

import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import ConfigurationError
from datastrata.eventlog import EventLog
from datastrata.eventlog.checkpoints import Mark
from datastrata.projections import ProjectionRunner
from datastrata.runtime import Runtime
from datastrata.stores.database import Database, Tx
from datastrata.stores.open import open_database
from datastrata.systems.food.service import FoodService


def test_a_graph_made_against_one_log_refuses_another_in_one_line_and_a_rebuild_adopts_it(tmp_path: Path) -> None:
    graph = f"ladybug:///{tmp_path / 'graph'}"
    with Runtime.open(Settings(store=f"sqlite:///{tmp_path / 'a.db'}", graph=graph)) as a:
        food_a = a.service("food", FoodService)
        food_a.add_user("u1", lat=35.0, lon=139.0)
        assert food_a.catch_up() == 1
        log_a = a.log.identity
        food_a.close()
    with Runtime.open(Settings(store=f"sqlite:///{tmp_path / 'b.db'}", graph=graph)) as b:
        food = b.service("food", FoodService)
        food.add_user("u2", lat=35.0, lon=139.0)
        log_b = b.log.identity
        with pytest.raises(ConfigurationError) as refused:
            food.catch_up()
        message = refused.value.message
        assert log_a in message and log_b in message and "\n" not in message
        assert message.startswith(f"graph {tmp_path / 'graph'} follows log {log_a}, this store's log is {log_b}")
        assert "`datastrata rebuild food.graph`" in message and "--graph" in message
        with pytest.raises(ConfigurationError, match="follows log"):
            food.recommend("u2")  # a query refuses too: it never answers from another store's graph
        assert food.rebuild() == 1  # the rebuild adopts this log
        assert food.runner.checkpoints.mark("food.graph").log_id == log_b
        assert food.recommend("u2") == []
        food.close()


class Noop:
    """A projection that builds nothing."""

    name = "test.noop"
    event_types = None

    def setup(self, db: Database) -> None:
        """Nothing to create."""

    def apply(self, tx: Tx, event: object) -> None:
        """Nothing to fold."""

    def clear(self, tx: Tx) -> None:
        """Nothing to empty."""


def test_relational_checkpoints_refuse_another_log(tmp_path: Path) -> None:
    read_db = open_database(f"sqlite:///{tmp_path / 'reads.db'}")
    one = open_database(f"sqlite:///{tmp_path / 'one.db'}")
    two = open_database(f"sqlite:///{tmp_path / 'two.db'}")
    try:
        first = ProjectionRunner(EventLog(one), Noop(), read_db=read_db)  # type: ignore[arg-type]
        first.rebuild()
        other = ProjectionRunner(EventLog(two), Noop(), read_db=read_db)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match=r"rebuild it with `datastrata rebuild test\.noop`"):
            other.run_once()
        other.rebuild()
        assert other.run_once() == 0
        with pytest.raises(ConfigurationError, match="follows log"):
            first.run_once()
    finally:
        for db in (read_db, one, two):
            db.close()


def test_each_log_has_its_own_redis_stream_so_two_stores_share_one_redis(tmp_path: Path, redis_url: str) -> None:
    with Runtime.open(Settings(store=f"sqlite:///{tmp_path / 'a.db'}", bus=redis_url)) as a:
        log_a = a.log.identity
        assert a.bus.key == f"datastrata:events:{log_a}"  # type: ignore[attr-defined]
    with Runtime.open(Settings(store=f"sqlite:///{tmp_path / 'b.db'}", bus=redis_url)) as b:
        log_b = b.log.identity
        assert b.bus.key == f"datastrata:events:{log_b}" and log_b != log_a  # type: ignore[attr-defined]


def test_the_old_single_stream_moves_once_to_its_logs_stream_with_its_groups(tmp_path: Path, redis_url: str) -> None:
    import redis

    store = f"sqlite:///{tmp_path / 'a.db'}"
    with Runtime.open(Settings(store=store)) as plain:
        log_id = plain.log.identity
    client = redis.Redis.from_url(redis_url)
    try:  # what an older release left: one stream, its marker, a group that read entry 1
        client.xadd("datastrata:events", {"event": "{}"}, id="1-1")
        client.xadd("datastrata:events", {"event": "{}"}, id="2-1")
        client.set("datastrata:events:log", log_id)
        client.xgroup_create("datastrata:events", "billing", id="1-1")
        with Runtime.open(Settings(store=store, bus=redis_url)) as runtime:
            key = runtime.bus.key  # type: ignore[attr-defined]
        assert not client.exists("datastrata:events", "datastrata:events:log")
        assert client.xlen(key) == 2
        (group,) = client.xinfo_groups(key)
        assert group["name"] == b"billing" and group["last-delivered-id"] == b"1-1"
        client.xadd("datastrata:events", {"event": "{}"}, id="1-1")  # another log's old stream stays where it is
        client.set("datastrata:events:log", "another-log")
        with Runtime.open(Settings(store=store, bus=redis_url)):
            pass
        assert client.xlen("datastrata:events") == 1 and client.xlen(key) == 2
    finally:
        client.close()


def test_a_graph_file_from_before_checkpoints_named_their_log_is_upgraded_in_place(tmp_path: Path) -> None:
    from datastrata.graph.projection import GraphCheckpoints
    from datastrata.stores.graphdb import open_graph

    graph = open_graph(tmp_path / "old")
    try:
        graph.execute(
            "CREATE NODE TABLE Checkpoint(id STRING, position INT64, event_id STRING, updated_at TIMESTAMP, "
            "PRIMARY KEY (id))"
        )
        graph.execute("CREATE (:Checkpoint {id: 'food.graph', position: 7, event_id: 'e7'})")
        checkpoints = GraphCheckpoints(graph)
        assert checkpoints.mark("food.graph") == Mark(7, None)  # no identity yet: the next page records it
        with graph.transaction() as tx:
            checkpoints.set_in(tx, "food.graph", 9, "e9", "abc")
        assert checkpoints.mark("food.graph") == Mark(9, "abc")
    finally:
        graph.close()
