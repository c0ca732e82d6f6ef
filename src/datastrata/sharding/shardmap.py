"""The shard map: a router at an epoch; every routing decision names the epoch it was made with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from datastrata.core.errors import ValidationError
from datastrata.core.validation import MAX_INT, bounded_int
from datastrata.sharding.codec import router_from_dict
from datastrata.sharding.keys import Key
from datastrata.sharding.router import Router, take_params


@dataclass(frozen=True, slots=True)
class Routed:
    """One routing decision: the shard a key goes to and the shard map's epoch that said so."""

    shard: str
    epoch: int


@dataclass(frozen=True, slots=True)
class ShardMap:
    """Which shard each key lives on, at one epoch (epochs only grow: a reshard switches to the next one)."""

    router: Router
    epoch: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.router, Router):
            raise ValidationError("router must be a Router (see datastrata.sharding)", field="router")
        bounded_int(self.epoch, field="epoch", minimum=1, maximum=MAX_INT)

    @property
    def shards(self) -> tuple[str, ...]:
        """Every shard of this map."""
        return self.router.shards

    def route(self, key: Key) -> Routed:
        """Return the shard of `key` and this map's epoch."""
        return Routed(self.router.route(key), self.epoch)

    def successor(self, router: Router) -> ShardMap:
        """Return the map of the next epoch with `router` (what a reshard's switch installs)."""
        return ShardMap(router, self.epoch + 1)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"epoch": …, "router": {...}}`` (plain JSON)."""
        return {"epoch": self.epoch, "router": self.router.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShardMap:
        """Return the map `data` (as :meth:`to_dict` wrote it) describes."""
        if not isinstance(data, Mapping):
            raise ValidationError("a shard map must be a JSON object with epoch and router", field="router")
        params = take_params(data, kind="shard map", required={"epoch", "router"}, optional=set())
        return cls(router_from_dict(params["router"]), params["epoch"])
