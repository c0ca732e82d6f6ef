"""Jump consistent hash (Lamping & Veach, 2014): no table, O(log n) steps, minimal movement when shards are added."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from datastrata.core.validation import bounded_int
from datastrata.sharding.keys import Key, encode_key, hash_bytes
from datastrata.sharding.names import check_shards
from datastrata.sharding.router import Router, take_params

_MASK = 0xFFFFFFFFFFFFFFFF
_MULTIPLIER = 2862933555777941757
_SCALE = float(1 << 31)


def jump_bucket(key: int, buckets: int) -> int:
    """Return the bucket 0..buckets-1 of the 64-bit `key` (the paper's algorithm, step for step)."""
    key = (key * _MULTIPLIER + 1) & _MASK  # the first step, from bucket 0, unrolled: (0 + 1) * x is x exactly
    bucket, candidate = 0, int(_SCALE / ((key >> 33) + 1))
    while candidate < buckets:
        bucket = candidate
        key = (key * _MULTIPLIER + 1) & _MASK
        candidate = int((bucket + 1) * (_SCALE / ((key >> 33) + 1)))
    return bucket


class JumpRouter(Router):
    """Jump consistent hash over the shards in their given order: add shards only at the end.

    Appending a shard moves about 1/(n+1) of the keys, all to the new shard; removing or reordering any other
    shard renumbers the buckets after it (use a ring or rendezvous when shards leave from the middle).
    """

    kind = "jump"

    def __init__(self, shards: Sequence[str], *, seed: int = 0) -> None:
        self._shards = check_shards(shards)
        self.seed = bounded_int(seed, field="seed", minimum=0, maximum=_MASK)

    @property
    def shards(self) -> tuple[str, ...]:
        """The shards, bucket 0 first."""
        return self._shards

    def route(self, key: Key) -> str:
        """The shard of the key's jump bucket."""
        return self._shards[jump_bucket(hash_bytes(encode_key(key), self.seed), len(self._shards))]

    def route_many(self, keys: Iterable[Key]) -> list[str]:
        """The shard of each key, the lookups' names bound once."""
        shards, seed, encode, digest, bucket = self._shards, self.seed, encode_key, hash_bytes, jump_bucket
        buckets = len(shards)
        return [shards[bucket(digest(encode(key), seed), buckets)] for key in keys]

    def params(self) -> dict[str, Any]:
        """Shards (in bucket order) and the hash seed."""
        return {"shards": list(self._shards), "seed": self.seed}

    @classmethod
    def from_params(cls, data: Mapping[str, Any]) -> JumpRouter:
        """Return the jump router `data` describes."""
        params = take_params(data, kind=cls.kind, required={"shards"}, optional={"seed"})
        return cls(params["shards"], seed=params.get("seed", 0))
