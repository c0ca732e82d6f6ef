"""``by_shard``: a placement whose sharded contexts live on N shard locations, a key's shard named by a shard map.

The map's router routes a key's slot (:mod:`datastrata.sharding.slots`); a directory's pinned keys are matched by the
key itself. Every decision names the map's epoch (:class:`~datastrata.sharding.shardmap.Routed`), so a writer can
be told its epoch is stale. Scopes of other contexts, and scopes with no key outside a scatter, live at home.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from datastrata.core.errors import ConfigurationError, ValidationError
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.scope import Scope
from datastrata.sharding.directory import DirectoryRouter
from datastrata.sharding.keys import Key
from datastrata.sharding.load import LoadMeter
from datastrata.sharding.maps import ShardMaps
from datastrata.sharding.router import Router
from datastrata.sharding.shardmap import Routed, ShardMap
from datastrata.sharding.slots import slot_of

#: The name load is recorded under for a placement whose map is not a stored one.
DEFAULT_MAP = "default"


class MapSource(Protocol):
    """Where a placement reads its shard map: a fixed map, or a stored one re-read after a while."""

    def current(self) -> ShardMap:
        """Return the shard map to route with now."""

    def invalidate(self) -> None:
        """Forget any cached map (a writer was told its epoch is stale)."""


class FixedMap:
    """A shard map that never changes (a tour, a test, a placement with no reshard)."""

    def __init__(self, shard_map: ShardMap) -> None:
        self.map = shard_map

    def current(self) -> ShardMap:
        """The one map."""
        return self.map

    def invalidate(self) -> None:
        """Nothing is cached."""


class StoredMap:
    """Map `name` of a location's ``sharding_maps``, cached for `ttl` seconds (a stale epoch re-reads it at once)."""

    def __init__(
        self, maps: ShardMaps, name: str, *, ttl: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.maps = maps
        self.name = name
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, ShardMap] | None = None

    def current(self) -> ShardMap:
        """The newest epoch as read at most `ttl` seconds ago."""
        with self._lock:
            now = self.clock()
            if self._cached is None or now - self._cached[0] >= self.ttl:
                self._cached = (now, self.maps.current(self.name))
            return self._cached[1]

    def invalidate(self) -> None:
        """Read the map again on the next decision."""
        with self._lock:
            self._cached = None


def route_key(shard_map: ShardMap, key: Key) -> Routed:
    """Return `key`'s shard under `shard_map`: its pinned shard if a directory pins it, else its slot's shard."""
    router = shard_map.router
    if isinstance(router, DirectoryRouter):
        pinned = router.pinned(key)
        if pinned is not None:
            return Routed(pinned, shard_map.epoch)
        router = router.fallback
    return Routed(router.route(slot_of(key)), shard_map.epoch)


class ByShard:
    """Sharded contexts' keyed scopes on the shard their key routes to; their keyless scopes scatter to every shard."""

    kind = "by_shard"

    def __init__(
        self,
        source: MapSource,
        shards: Mapping[str, LocationSpec],
        home: LocationSpec,
        *,
        contexts: Iterable[str] | None = None,
    ) -> None:
        if not shards:
            raise ConfigurationError("by_shard needs at least one shard location")
        clash = [name for name in shards if name == home.name]
        if clash:
            raise ConfigurationError(f"shard {clash[0]!r} has the home location's name; rename the shard")
        self.source = source
        self.shards = dict(shards)
        self.home = home
        #: The contexts whose data is sharded (None: every context).
        self.contexts = None if contexts is None else frozenset(contexts)
        #: The load of the shards as this process sees it (the runtime counts into it and flushes it).
        self.meter = LoadMeter(getattr(source, "name", DEFAULT_MAP), self.shards)

    def sharded(self, context: str) -> bool:
        """Whether `context`'s data lives on the shards."""
        return self.contexts is None or context in self.contexts

    def route(self, key: Key) -> Routed:
        """Return `key`'s shard and the epoch of the map that said so."""
        routed = route_key(self.source.current(), key)
        if routed.shard not in self.shards:
            raise ConfigurationError(
                f"the shard map routes to shard {routed.shard!r}, which this placement has no location for; "
                f"add it to the shards ({', '.join(self.shards)})"
            )
        return routed

    def shard(self, name: str) -> LocationSpec:
        """Return shard `name`'s location."""
        try:
            return self.shards[name]
        except KeyError:
            raise ValidationError(
                f"no shard {name!r}; the shards are {', '.join(self.shards)}", field="shard"
            ) from None

    def locate(self, scope: Scope) -> LocationSpec:
        """The shard of the scope's key in a sharded context; home for anything else."""
        if scope.key is None or not self.sharded(scope.context):
            return self.home
        return self.shards[self.route(scope.key).shard]

    def locations(self, scope: Scope) -> list[LocationSpec]:
        """Every shard of the current map for a keyless scope of a sharded context (a scatter); else the one."""
        if scope.key is None and self.sharded(scope.context):
            return [self.shards[name] for name in self.source.current().shards if name in self.shards]
        return [self.locate(scope)]

    def all(self) -> list[LocationSpec]:
        """Home first, then every shard location (those the map does not route to yet included)."""
        return [self.home, *self.shards.values()]


def by_shard(
    router: Router | ShardMap,
    shards: Mapping[str, LocationSpec],
    home: LocationSpec,
    *,
    contexts: Iterable[str] | None = None,
) -> ByShard:
    """Return a placement routing by `router` (a fixed map, epoch 1) or `router`'s map over `shards`."""
    shard_map = router if isinstance(router, ShardMap) else ShardMap(router)
    return ByShard(FixedMap(shard_map), shards, home, contexts=contexts)
