"""Ring, jump and rendezvous: even spread, minimal movement when a shard is added, one answer per key."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from datastrata.sharding import JumpRouter, RendezvousRouter, RingRouter, hash_key, router_from_dict
from datastrata.sharding.jump import jump_bucket
from tests.sharding.conftest import HASH_ROUTERS, KEYS, max_over_mean, shard_names


@pytest.mark.parametrize("kind", sorted(HASH_ROUTERS))
@pytest.mark.parametrize("count", [4, 16])
def test_balance_at_100k_keys(kind: str, count: int) -> None:
    """Max/mean load stays within 1.05 at 100k keys (key sampling alone gives about 1.02-1.03 at 16 shards)."""
    shards = shard_names(count)
    routes = HASH_ROUTERS[kind](shards).route_many(KEYS)
    assert set(routes) == set(shards)
    assert max_over_mean(routes, shards) <= 1.05


@pytest.mark.parametrize("kind", sorted(HASH_ROUTERS))
def test_adding_a_shard_moves_about_one_in_n_plus_one_and_only_to_it(kind: str) -> None:
    """Going from 8 to 9 shards moves within 5% of the optimum 1/9 of the keys, every one of them to the new shard."""
    before = HASH_ROUTERS[kind](shard_names(8)).route_many(KEYS)
    after = HASH_ROUTERS[kind](shard_names(9)).route_many(KEYS)
    moved = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert {new for _, new in moved} == {"s8"}
    ratio = len(moved) / len(KEYS) / (1 / 9)
    assert 0.95 <= ratio <= 1.05


def test_removing_a_middle_shard_moves_only_its_keys_on_ring_and_rendezvous() -> None:
    """Ring and rendezvous move only the removed shard's keys; jump is for adding at the end (documented)."""
    keys = KEYS[:20_000]
    for make in (RingRouter, RendezvousRouter):
        before = make(shard_names(8)).route_many(keys)
        after = make([shard for shard in shard_names(8) if shard != "s3"]).route_many(keys)
        assert all(old == new for old, new in zip(before, after, strict=True) if old != "s3")


def test_route_many_agrees_with_route() -> None:
    """The batch lookup answers exactly what one lookup at a time does, for every key type."""
    keys = [*KEYS[:2000], *range(-1000, 1000), *(bytes([index % 256, index // 256]) for index in range(2000))]
    for make in HASH_ROUTERS.values():
        router = make(shard_names(7))
        assert router.route_many(keys) == [router.route(key) for key in keys]


def test_weighted_rendezvous_follows_the_weights() -> None:
    """A shard of weight 2 gets about twice the keys of a shard of weight 1."""
    router = RendezvousRouter(["a", "b", "c"], weights={"a": 1, "b": 1, "c": 2})
    routes = router.route_many(KEYS[:40_000])
    shares = {shard: routes.count(shard) / len(routes) for shard in "abc"}
    assert shares["c"] == pytest.approx(0.5, abs=0.015)
    assert shares["a"] == pytest.approx(0.25, abs=0.015)


def test_seed_changes_the_spread_and_round_trips() -> None:
    """Another seed is another placement, kept through the dict."""
    base, other = JumpRouter(shard_names(8)), JumpRouter(shard_names(8), seed=7)
    assert base.route_many(KEYS[:1000]) != other.route_many(KEYS[:1000])
    assert router_from_dict(json.loads(json.dumps(other.to_dict()))).route_many(KEYS[:1000]) == other.route_many(
        KEYS[:1000]
    )


_CHILD = """
import json, sys
from datastrata.sharding import router_from_dict
routers = [router_from_dict(spec) for spec in json.loads(sys.argv[1])]
keys = [f"user-{i}" for i in range(500)] + list(range(-250, 250)) + [bytes([i]) for i in range(256)]
print(json.dumps([router.route_many(keys) for router in routers]))
"""


def test_routing_is_the_same_in_another_process() -> None:
    """A child process with another hash salt routes every key the same way (no use of Python's salted hash)."""
    routers = [
        RingRouter(shard_names(5), vnodes=64),
        JumpRouter(shard_names(5)),
        RendezvousRouter(shard_names(5), weights={name: 1 + index for index, name in enumerate(shard_names(5))}),
    ]
    keys = [*(f"user-{i}" for i in range(500)), *range(-250, 250), *(bytes([i]) for i in range(256))]
    specs = json.dumps([router.to_dict() for router in routers])
    answers = []
    for salt in ("1", "2"):
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, specs],
            env={**os.environ, "PYTHONHASHSEED": salt},
            capture_output=True,
            text=True,
            check=True,
        )
        answers.append(json.loads(child.stdout))
    mine = [router.route_many(keys) for router in routers]
    assert answers[0] == answers[1] == mine


def test_known_answers_do_not_change_between_versions() -> None:
    """Stored shard maps depend on these: the key encoding, xxh3 and each algorithm are fixed."""
    shards = shard_names(8)
    keys: list[str | bytes | int] = ["user-1", "user-2", b"\x00\xff", 42, -7]
    assert JumpRouter(shards).route_many(keys) == KNOWN["jump"]
    assert RingRouter(shards, vnodes=100).route_many(keys) == KNOWN["ring"]
    assert RendezvousRouter(shards).route_many(keys) == KNOWN["rendezvous"]


KNOWN: dict[str, list[str]] = {
    "jump": ["s5", "s6", "s6", "s5", "s7"],
    "ring": ["s0", "s1", "s3", "s1", "s7"],
    "rendezvous": ["s4", "s3", "s3", "s5", "s4"],
}


def test_jump_matches_the_papers_c_arithmetic() -> None:
    """The jump loop equals the paper's C code run in wrapping unsigned 64-bit arithmetic (numpy uint64)."""
    np = pytest.importorskip("numpy")
    hashes = [hash_key(key) for key in KEYS[:3000]] + [0, 1, 2**64 - 1]

    def c_jump(key: int, buckets: int) -> int:
        with np.errstate(over="ignore"):
            value, bucket, candidate = np.uint64(key), -1, 0
            while candidate < buckets:
                bucket = candidate
                value = value * np.uint64(2862933555777941757) + np.uint64(1)
                candidate = int((bucket + 1) * (float(1 << 31) / float((value >> np.uint64(33)) + np.uint64(1))))
            return bucket

    for buckets in (1, 7, 1000):
        assert [jump_bucket(key, buckets) for key in hashes] == [c_jump(key, buckets) for key in hashes]
