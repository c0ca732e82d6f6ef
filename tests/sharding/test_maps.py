"""Stored shard maps on SQLite and PostgreSQL: epochs grow by one, old ones stay, one of two racing switches wins."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from datastrata.core.errors import ConcurrencyConflict, NotFound, ValidationError
from datastrata.sharding import JumpRouter, RangeRouter, ShardMap
from datastrata.sharding.maps import MIGRATIONS, ShardMaps
from datastrata.stores.database import Database
from datastrata.stores.migrations import migrate
from datastrata.stores.open import open_database


@pytest.fixture
def maps(store_url: str) -> Iterator[ShardMaps]:
    """The shard maps of a fresh store, migrated as `datastrata migrate` would (the owner applies DDL)."""
    db: Database = open_database(store_url)
    migrate(db, [MIGRATIONS])
    yield ShardMaps(db)
    db.close()


def test_create_switch_and_read_every_epoch(maps: ShardMaps) -> None:
    """Epoch 1 by create, then 2 and 3 by switch; current is the newest, every older one stays readable."""
    first = maps.create("accounts", JumpRouter(["s0", "s1"]))
    assert first == ShardMap(JumpRouter(["s0", "s1"]), 1)
    second = maps.switch("accounts", JumpRouter(["s0", "s1", "s2"]), expected_epoch=1)
    split = RangeRouter(["a", "b"], ["m"]).split(1, "t", to="c")
    third = maps.switch("accounts", split, expected_epoch=2)
    assert maps.current("accounts") == third == ShardMap(split, 3)
    assert maps.at("accounts", 2) == second and maps.at("accounts", 1) == first
    assert [stored.map.epoch for stored in maps.history("accounts")] == [3, 2, 1]
    assert maps.history("accounts")[0].recorded_at.tzinfo is not None
    assert maps.current("accounts").route("u") == third.route("u")


def test_a_stale_epoch_is_refused_and_nothing_is_written(maps: ShardMaps) -> None:
    """A switch naming an epoch that is no longer current is refused; creating twice is refused."""
    maps.create("orders", JumpRouter(["s0"]))
    maps.switch("orders", JumpRouter(["s0", "s1"]), expected_epoch=1)
    with pytest.raises(ConcurrencyConflict, match="is at epoch 2, not 1"):
        maps.switch("orders", JumpRouter(["s0", "s1", "s2"]), expected_epoch=1)
    with pytest.raises(ConcurrencyConflict, match="exists already"):
        maps.create("orders", JumpRouter(["s9"]))
    with pytest.raises(ConcurrencyConflict, match="create it first"):
        maps.switch("missing", JumpRouter(["s0"]), expected_epoch=1)
    assert [stored.map.epoch for stored in maps.history("orders")] == [2, 1]


def test_of_racing_switches_exactly_one_wins(maps: ShardMaps) -> None:
    """Eight threads switch from epoch 1 at once: one installs epoch 2, seven get a conflict."""
    maps.create("users", JumpRouter(["s0"]))
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def switch(index: int) -> None:
        barrier.wait()
        try:
            maps.switch("users", JumpRouter(["s0", f"n{index}"]), expected_epoch=1)
            result = "won"
        except ConcurrencyConflict:
            result = "conflict"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=switch, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    assert maps.current("users").epoch == 2 and len(maps.history("users")) == 2


def test_unknown_maps_and_bad_names(maps: ShardMaps) -> None:
    """An unknown map or epoch is NotFound; a bad name or epoch a ValidationError naming the field."""
    with pytest.raises(NotFound):
        maps.current("nothing")
    maps.create("m", JumpRouter(["s0"]))
    with pytest.raises(NotFound):
        maps.at("m", 5)
    for call, field in [
        (lambda: maps.create("Bad Name", JumpRouter(["s0"])), "name"),
        (lambda: maps.switch("m", JumpRouter(["s0"]), expected_epoch=0), "expected_epoch"),
        (lambda: maps.at("m", 0), "epoch"),
        (lambda: maps.history("m", limit=0), "limit"),
    ]:
        with pytest.raises(ValidationError) as caught:
            call()
        assert caught.value.field == field
