"""Consistent hashing on a ring: each shard owns many virtual-node points, a key goes to the next point clockwise."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from datastrata.core.validation import bounded_int
from datastrata.sharding.keys import Key, encode_key, hash_bytes
from datastrata.sharding.names import check_shards
from datastrata.sharding.router import Router, take_params

#: Virtual nodes per shard unless told: max/mean load within 1.05 at 4-16 shards and 100k keys (docs/sharding.md).
DEFAULT_VNODES = 4096
#: The most virtual nodes per shard a ring takes.
MAX_VNODES = 100_000
_MASK = 0xFFFFFFFFFFFFFFFF


class RingRouter(Router):
    """Consistent-hash ring (Karger et al.) with `vnodes` points per shard, looked up by bisection."""

    kind = "ring"

    def __init__(self, shards: Sequence[str], *, vnodes: int = DEFAULT_VNODES, seed: int = 0) -> None:
        self._shards = check_shards(shards)
        self.vnodes = bounded_int(vnodes, field="vnodes", minimum=1, maximum=MAX_VNODES)
        self.seed = bounded_int(seed, field="seed", minimum=0, maximum=_MASK)
        points = sorted(
            (hash_bytes(f"{shard}#{index}".encode(), self.seed), shard)
            for shard in self._shards
            for index in range(self.vnodes)
        )  # ties (astronomically rare) break by shard name, so the order is still defined
        self._points = [point for point, _ in points]
        self._owners = [shard for _, shard in points]

    @property
    def shards(self) -> tuple[str, ...]:
        """The ring's shards, in the order given."""
        return self._shards

    def route(self, key: Key) -> str:
        """The owner of the first point at or after the key's hash (wrapping past the last point to the first)."""
        index = bisect_left(self._points, hash_bytes(encode_key(key), self.seed))
        return self._owners[index if index < len(self._owners) else 0]

    def route_many(self, keys: Iterable[Key]) -> list[str]:
        """The shard of each key, with the lookups' names bound once."""
        points, owners, seed, encode, digest = self._points, self._owners, self.seed, encode_key, hash_bytes
        last = len(owners)
        out = []
        for key in keys:
            index = bisect_left(points, digest(encode(key), seed))
            out.append(owners[index if index < last else 0])
        return out

    def params(self) -> dict[str, Any]:
        """Shards, virtual nodes per shard and the hash seed."""
        return {"shards": list(self._shards), "vnodes": self.vnodes, "seed": self.seed}

    @classmethod
    def from_params(cls, data: Mapping[str, Any]) -> RingRouter:
        """Return the ring `data` describes."""
        params = take_params(data, kind=cls.kind, required={"shards"}, optional={"vnodes", "seed"})
        return cls(params["shards"], vnodes=params.get("vnodes", DEFAULT_VNODES), seed=params.get("seed", 0))
