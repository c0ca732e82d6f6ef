"""by_shard: keyed scopes land on their key's shard (a separate SQLite file each), keyless ones scatter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import ConfigurationError
from datastrata.core.events import NewEvent
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.sharding import JumpRouter, ShardMap
from datastrata.sharding.directory import DirectoryRouter
from datastrata.sharding.maps import ShardMaps
from datastrata.sharding.placement import ByShard, StoredMap, by_shard, route_key
from datastrata.sharding.slots import SLOTS, slot_of, slot_runs


def _specs(tmp_path: Path, count: int) -> dict[str, LocationSpec]:
    return {f"s{i}": LocationSpec(f"s{i}", f"sqlite:///{tmp_path}/s{i}.db", "", "") for i in range(count)}


def _home(tmp_path: Path) -> LocationSpec:
    return LocationSpec("main", f"sqlite:///{tmp_path}/home.db", "", "")


def test_slots_are_the_top_bits_of_the_key_hash_and_runs_merge() -> None:
    slots = [slot_of(f"user-{i}") for i in range(50_000)]
    assert min(slots) >= 0 and max(slots) < SLOTS
    assert len(set(slots)) > SLOTS * 0.9  # 50k keys reach nearly every slot
    assert slot_runs([5, 3, 4, 9, 10, 1]) == [(1, 1), (3, 5), (9, 10)]


def test_keyed_scopes_land_on_their_shard_and_keyless_ones_visit_every_shard(tmp_path: Path) -> None:
    shards = _specs(tmp_path, 3)
    placement = by_shard(JumpRouter(list(shards)), shards, _home(tmp_path), contexts=["ledger"])
    settings = Settings(store=_home(tmp_path).store, graph=f"ladybug:///{tmp_path}/graph")
    with Runtime.open(settings, placement=placement) as runtime:
        users = [f"user-{i}" for i in range(30)]
        for user in users:
            runtime.append(Scope("ledger", user), [NewEvent("Credited", {"amount": 1})])
        runtime.append(Scope("audit", "x"), [NewEvent("Noted", {})])
        held: dict[str, set[str]] = {}
        for location in runtime.locations(Scope("ledger")):
            with location.db.read() as tx:
                held[location.name] = {str(r[0]) for r in tx.query("SELECT stream_id FROM eventlog_events")}
        assert set(held) == set(shards)
        for user in users:
            shard = placement.route(user).shard
            assert f"ledger-{user}" in held[shard]
            assert all(f"ledger-{user}" not in streams for name, streams in held.items() if name != shard)
        with runtime.home.db.read() as tx:  # another context's scope lives at home
            assert tx.scalar("SELECT COUNT(*) FROM eventlog_events WHERE stream_id = 'audit-x'") == 1


def test_routing_is_stable_across_processes() -> None:
    script = (
        "from datastrata.sharding import JumpRouter, ShardMap\n"
        "from datastrata.sharding.placement import route_key\n"
        "m = ShardMap(JumpRouter(['a','b','c','d']))\n"
        "print(','.join(route_key(m, f'k{i}').shard for i in range(200)))\n"
    )
    runs = {
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    here = ",".join(route_key(ShardMap(JumpRouter(["a", "b", "c", "d"])), f"k{i}").shard for i in range(200))
    assert runs == {here + "\n"}


def test_a_pinned_key_goes_to_its_shard_and_the_rest_by_slot(tmp_path: Path) -> None:
    directory = DirectoryRouter(JumpRouter(["s0", "s1"]), {"hot": "s2"}, shards=["s0", "s1", "s2"])
    shard_map = ShardMap(directory, epoch=4)
    assert route_key(shard_map, "hot").shard == "s2" and route_key(shard_map, "hot").epoch == 4
    assert route_key(shard_map, "cold").shard == JumpRouter(["s0", "s1"]).route(slot_of("cold"))


def test_a_stored_map_is_reread_after_invalidate(tmp_path: Path) -> None:
    home = _home(tmp_path)
    from datastrata.stores.open import open_database

    db = open_database(home.store)
    try:
        maps = ShardMaps(db)
        maps.create("accounts", JumpRouter(["s0", "s1"]))
        source = StoredMap(maps, "accounts", ttl=3600)
        placement = ByShard(source, _specs(tmp_path, 3), home)
        assert placement.route("k").epoch == 1
        maps.switch("accounts", JumpRouter(["s0", "s1", "s2"]), expected_epoch=1)
        assert placement.route("k").epoch == 1  # cached
        source.invalidate()
        assert placement.route("k").epoch == 2
    finally:
        db.close()


def test_a_map_naming_a_shard_without_a_location_is_a_clear_error(tmp_path: Path) -> None:
    placement = by_shard(JumpRouter(["s0", "s9"]), _specs(tmp_path, 1), _home(tmp_path))
    keys = [f"k{i}" for i in range(20)]
    with pytest.raises(ConfigurationError, match="s9"):
        for key in keys:
            placement.route(key)
