"""The shard gate: a writer of a sharded key reads its key's range fence in its own transaction, before it writes.

``fenced`` (a reshard's last delta of the key's range): the writer waits. ``moved`` at an epoch newer than the
routing decision the writer made: its map is stale — the map is re-read (``StoredMap.invalidate``) and the write is
retried on the key's new shard, so a decision of an old epoch is never applied to the wrong shard. A shard map that
never changes (``FixedMap``) has nothing to read.
"""

from __future__ import annotations

from datastrata.core.errors import BackendUnavailable
from datastrata.runtime import fences, shardfences
from datastrata.runtime.placement import Placement
from datastrata.runtime.scope import Scope
from datastrata.sharding import placement as by_shard  # a module: the runtime imports this one while it loads
from datastrata.sharding.directory import DirectoryRouter
from datastrata.sharding.slots import slot_of
from datastrata.stores.database import Tx

#: How many times a write is re-routed after a stale epoch before it is refused (each reshard switch costs one).
STALE_RETRIES = 5


class StaleEpoch(BackendUnavailable):
    """A write kept being routed with an old shard map epoch (the map changed under it more than the retries)."""


def gated(placement: Placement, scope: Scope) -> bool:
    """Whether writes of `scope` go through the shard gate (a keyed scope of a sharded context of a stored map)."""
    return (
        isinstance(placement, by_shard.ByShard)
        and isinstance(placement.source, by_shard.StoredMap)
        and scope.key is not None
        and placement.sharded(scope.context)
    )


def fence_in(tx: Tx, placement: Placement, scope: Scope, location: str) -> str | None:
    """What `scope`'s write in `location` must do, read in its transaction `tx`: None (write), FENCED (wait), or
    MOVED (the map was stale and is forgotten: route again)."""
    if not gated(placement, scope):
        return None
    assert isinstance(placement, by_shard.ByShard) and isinstance(placement.source, by_shard.StoredMap)
    assert scope.key is not None
    shard_map = placement.source.current()
    routed = by_shard.route_key(shard_map, scope.key)
    if placement.shards[routed.shard].name != location:  # the map was re-read since the location was chosen
        return fences.MOVED
    router = shard_map.router
    pinned = isinstance(router, DirectoryRouter) and router.pinned(scope.key) is not None
    found = shardfences.state_in(tx, placement.source.name, str(scope.key), slot_of(scope.key), pinned=pinned)
    if found is None or found[0] == fences.OPEN:
        return None
    state, epoch = found
    if state == fences.MOVED and epoch > routed.epoch:
        placement.source.invalidate()  # a decision of an old epoch: read the map again and go where it says
        return fences.MOVED
    return fences.FENCED  # fenced, or moved away and back at this epoch while its fence is reopened: wait


def stale(scope: Scope, retries: int) -> StaleEpoch:
    """The error of a write re-routed `retries` times without finding its key's shard."""
    return StaleEpoch(
        f"the write of {scope.context} key {scope.key!r:.40} was routed with a stale shard map {retries} times; "
        "a reshard keeps switching this key's range: retry, or see `datastrata shards status`"
    )
