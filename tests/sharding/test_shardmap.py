"""The shard map: a router at an epoch, every decision naming the epoch, stored as plain JSON."""

from __future__ import annotations

import json

import pytest

from datastrata.core.errors import ValidationError
from datastrata.sharding import JumpRouter, RangeRouter, Routed, ShardMap


def test_every_decision_names_the_epoch() -> None:
    """route returns the shard with the map's epoch; the successor map has the next epoch and its own router."""
    first = ShardMap(JumpRouter(["s0", "s1"]), epoch=4)
    assert first.route("user-1") == Routed(JumpRouter(["s0", "s1"]).route("user-1"), 4)
    second = first.successor(JumpRouter(["s0", "s1", "s2"]))
    assert second.epoch == 5 and second.shards == ("s0", "s1", "s2")
    assert first.epoch == 4


def test_round_trip_through_json() -> None:
    """A map comes back equal from its dict."""
    shard_map = ShardMap(RangeRouter(["a", "b"], ["m"]), epoch=2)
    assert ShardMap.from_dict(json.loads(json.dumps(shard_map.to_dict()))) == shard_map


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"epoch": 0, "router": {"kind": "jump", "shards": ["a"]}}, "epoch"),
        ({"epoch": "1", "router": {"kind": "jump", "shards": ["a"]}, "extra": 1}, "extra"),
        ({"router": {"kind": "jump", "shards": ["a"]}}, "epoch"),
        ({"epoch": 1, "router": {"kind": "jump", "shards": []}}, "shards"),
    ],
)
def test_bad_maps_are_refused(data: dict[str, object], field: str) -> None:
    """An epoch below 1, a missing or unknown field, or a bad router names the field."""
    with pytest.raises(ValidationError) as caught:
        ShardMap.from_dict(data)
    assert caught.value.field == field
