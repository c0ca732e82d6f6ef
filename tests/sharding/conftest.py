"""Shared key sets and router factories for the sharding tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from datastrata.sharding import JumpRouter, RendezvousRouter, RingRouter, Router

#: 100k keys shaped like the scope keys systems use.
KEYS = [f"user-{index}" for index in range(100_000)]
#: The hash routers: each takes a shard list and spreads keys evenly with minimal movement.
HASH_ROUTERS: dict[str, Callable[[Sequence[str]], Router]] = {
    "ring": RingRouter,
    "jump": JumpRouter,
    "rendezvous": RendezvousRouter,
}


def shard_names(count: int) -> list[str]:
    """Return shards s0..s{count-1}."""
    return [f"s{index}" for index in range(count)]


def max_over_mean(routes: Sequence[str], shards: Sequence[str]) -> float:
    """Return the largest shard's key count over the mean count (1.0: perfectly even)."""
    counts = Counter(routes)
    return max(counts[shard] for shard in shards) / (len(routes) / len(shards))
