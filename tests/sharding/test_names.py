"""Default shard names: numbered from 0, skipping the names a map already has."""

from __future__ import annotations

from datastrata.sharding.names import check_shard, numbered


def test_numbered_names_skip_the_taken_ones_and_are_valid_shard_names() -> None:
    assert numbered(3) == ["s0", "s1", "s2"]
    assert numbered(2, taken={"s0", "s2"}) == ["s1", "s3"]
    assert numbered(2, prefix="shard-") == ["shard-0", "shard-1"]
    assert numbered(0, taken={"s0"}) == []
    assert all(check_shard(name) == name for name in numbered(20, prefix="shard-"))
