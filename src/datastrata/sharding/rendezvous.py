"""Rendezvous (highest random weight) hashing: every shard scores the key, the highest score wins; O(n) a key."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from datastrata.core.errors import ValidationError
from datastrata.core.validation import bounded_float, bounded_int
from datastrata.sharding.keys import Key, encode_key, hash_bytes
from datastrata.sharding.names import check_shards
from datastrata.sharding.router import Router, take_params

_MASK = 0xFFFFFFFFFFFFFFFF
_UNIT = float(1 << 64)
#: The largest weight a shard takes (relative; only ratios matter).
MAX_WEIGHT = 1e6


class RendezvousRouter(Router):
    """Highest random weight (Thaler & Ravishankar) with optional weights (logarithmic method,
    Schindelhauer & Schomaker): a shard of weight w gets w / sum(weights) of the keys.

    A key's score at a shard is xxh3 of the key seeded by the shard's own hash; unweighted, the highest score wins;
    weighted, the highest ``-w / ln(u)`` with u the score mapped into (0, 1).
    """

    kind = "rendezvous"

    def __init__(self, shards: Sequence[str], *, weights: Mapping[str, float] | None = None, seed: int = 0) -> None:
        self._shards = check_shards(shards)
        self.seed = bounded_int(seed, field="seed", minimum=0, maximum=_MASK)
        self.weights = None if weights is None else _check_weights(weights, self._shards)
        self._seeds = [hash_bytes(shard.encode(), self.seed) for shard in self._shards]
        self._weights = None if self.weights is None else [self.weights[shard] for shard in self._shards]

    @property
    def shards(self) -> tuple[str, ...]:
        """The shards, in the order given (order does not change any key's shard)."""
        return self._shards

    def route(self, key: Key) -> str:
        """The shard scoring the key highest."""
        return self._best(encode_key(key))

    def route_many(self, keys: Iterable[Key]) -> list[str]:
        """The shard of each key."""
        best, encode = self._best, encode_key
        return [best(encode(key)) for key in keys]

    def _best(self, data: bytes) -> str:
        seeds = self._seeds
        if self._weights is None:
            scores = [hash_bytes(data, seed) for seed in seeds]
            return self._shards[scores.index(max(scores))]
        weighted = [
            -weight / math.log((hash_bytes(data, seed) + 0.5) / _UNIT)
            for seed, weight in zip(seeds, self._weights, strict=True)
        ]
        return self._shards[weighted.index(max(weighted))]

    def params(self) -> dict[str, Any]:
        """Shards, weights (or null) and the hash seed."""
        return {"shards": list(self._shards), "weights": self.weights, "seed": self.seed}

    @classmethod
    def from_params(cls, data: Mapping[str, Any]) -> RendezvousRouter:
        """Return the rendezvous router `data` describes."""
        params = take_params(data, kind=cls.kind, required={"shards"}, optional={"weights", "seed"})
        return cls(params["shards"], weights=params.get("weights"), seed=params.get("seed", 0))


def _check_weights(weights: object, shards: tuple[str, ...]) -> dict[str, float]:
    if not isinstance(weights, Mapping):
        raise ValidationError(
            "weights must map each shard to a positive number, e.g. {'s0': 1, 's1': 2}", field="weights"
        )
    unknown = sorted(set(weights) - set(shards))
    missing = [shard for shard in shards if shard not in weights]
    if unknown or missing:
        detail = f"unknown shard {unknown[0]!r}" if unknown else f"no weight for shard {missing[0]!r}"
        raise ValidationError(
            f"weights must give every shard of shards one weight and no other: {detail}", field="weights"
        )
    checked = {
        shard: bounded_float(weights[shard], field=f"weights.{shard}", minimum=0.0, maximum=MAX_WEIGHT)
        for shard in shards
    }
    zero = [shard for shard, weight in checked.items() if weight <= 0]
    if zero:
        raise ValidationError(
            f"weights.{zero[0]} must be greater than 0; remove the shard from shards instead of weighting it 0",
            field=f"weights.{zero[0]}",
        )
    return checked
