"""Reshard plans: the dry run of adding, removing or splitting shards or pinning a key — what moves where, how much.

A plan compares the map's current router with the new one slot by slot (and pinned key by pinned key) and groups
what changes owner into one range move per source → target pair; each move is counted at its source (rows per
sharded table, events, bytes, an estimate of seconds) as the runtime's move workflow would carry it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from datastrata.core.errors import ValidationError
from datastrata.core.ids import new_id
from datastrata.core.validation import bounded_int
from datastrata.runtime.moveevents import ShardEvents
from datastrata.runtime.moves import plan_move
from datastrata.runtime.movetables import Selection, shard_tables
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.slotrange import SlotRange
from datastrata.sharding.codec import router_from_dict
from datastrata.sharding.directory import DirectoryRouter
from datastrata.sharding.jump import JumpRouter
from datastrata.sharding.keys import Key
from datastrata.sharding.names import check_shard
from datastrata.sharding.placement import ByShard, StoredMap
from datastrata.sharding.rendezvous import RendezvousRouter
from datastrata.sharding.ring import RingRouter
from datastrata.sharding.router import Router
from datastrata.sharding.slotmaps import assignment, pins, router_of, shard_of
from datastrata.sharding.slots import slot_of, slot_runs

#: The most shards one ``--add`` adds.
MAX_ADD = 64
#: The most range moves one plan holds (one per source → target pair: a plan never needs more).
MAX_MOVES = 4096
#: What a plan does: the map's shards change (add, remove, split) or one key is pinned (pin).
ACTIONS = ("add", "remove", "split", "pin")


@dataclass(frozen=True, slots=True)
class RangeMove:
    """One move of a plan: a range from one shard to another, and what it carries (counted at the source)."""

    source: str
    target: str
    range: SlotRange
    tables: dict[str, int]
    events: int
    nbytes: int
    seconds: float

    @property
    def rows(self) -> int:
        """Rows of every sharded table together."""
        return sum(self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape of one planned move."""
        return {
            "source": self.source,
            "target": self.target,
            "slots": self.range.slots,
            "runs": len(self.range.runs),
            "keys": len(self.range.keys),
            "range": self.range.to_dict(),
            "tables": self.tables,
            "rows": self.rows,
            "events": self.events,
            "bytes": self.nbytes,
            "estimate_seconds": round(self.seconds, 1),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RangeMove:
        """Return the move `data` (as :meth:`to_dict` wrote it) describes (refused naming the field it lacks)."""
        if not isinstance(data, Mapping) or any(k not in data for k in ("source", "target", "range")):
            raise ValidationError(
                "each planned move needs its source, target and range (as a plan writes them)", field="moves"
            )
        tables = data.get("tables", {})
        if not isinstance(tables, Mapping):
            raise ValidationError("tables must map each sharded table to its row count", field="tables")
        seconds = data.get("estimate_seconds", 0.0)
        if not isinstance(seconds, int | float) or isinstance(seconds, bool):
            raise ValidationError("estimate_seconds must be a number", field="estimate_seconds")
        return cls(
            check_shard(data["source"], field="source"),
            check_shard(data["target"], field="target"),
            SlotRange.from_dict(data["range"]),
            {str(t): bounded_int(n, field="tables", minimum=0) for t, n in tables.items()},
            bounded_int(data.get("events", 0), field="events", minimum=0),
            bounded_int(data.get("bytes", 0), field="bytes", minimum=0),
            float(seconds),
        )


@dataclass(frozen=True, slots=True)
class ReshardPlan:
    """A reshard: the map, the epoch it was planned at, the router before and after, and the moves in between."""

    plan_id: str
    map_name: str
    action: str
    base_epoch: int
    previous: Router
    router: Router
    moves: tuple[RangeMove, ...]

    @property
    def rows(self) -> int:
        """Rows every move carries together."""
        return sum(m.rows for m in self.moves)

    def to_dict(self) -> dict[str, Any]:
        """Return the plan as JSON (what ``shards plan --out`` writes and ``shards reshard`` reads)."""
        return {
            "plan_id": self.plan_id,
            "map": self.map_name,
            "action": self.action,
            "base_epoch": self.base_epoch,
            "previous": self.previous.to_dict(),
            "router": self.router.to_dict(),
            "moves": [m.to_dict() for m in self.moves],
            "rows": self.rows,
            "events": sum(m.events for m in self.moves),
            "bytes": sum(m.nbytes for m in self.moves),
            "estimate_seconds": round(sum(m.seconds for m in self.moves), 1),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReshardPlan:
        """Return the plan `data` describes (refused with the field named when it is not a plan)."""
        if not isinstance(data, Mapping):
            raise ValidationError("a reshard plan must be a JSON object (from `shards plan --out`)", field="plan")
        missing = [
            k for k in ("plan_id", "map", "action", "base_epoch", "previous", "router", "moves") if k not in data
        ]
        if missing:
            raise ValidationError(
                f"the plan lacks {', '.join(missing)}; write it with `datastrata shards plan … --out FILE`",
                field=missing[0],
            )
        if data["action"] not in ACTIONS:
            raise ValidationError(f"action must be one of {', '.join(ACTIONS)}; got {data['action']!r}", field="action")
        if not isinstance(data["moves"], list) or len(data["moves"]) > MAX_MOVES:
            raise ValidationError(f"moves must be a list of at most {MAX_MOVES} planned moves", field="moves")
        return cls(
            str(data["plan_id"]),
            check_shard(data["map"], field="map"),
            str(data["action"]),
            bounded_int(data["base_epoch"], field="base_epoch", minimum=1),
            router_from_dict(data["previous"]),
            router_from_dict(data["router"]),
            tuple(RangeMove.from_dict(m) for m in data["moves"]),
        )


def sharded(runtime: Runtime, map_name: str) -> tuple[ByShard, StoredMap]:
    """The runtime's by_shard placement and its stored map `map_name` (refused when it routes by another)."""
    placement = runtime.placement
    if not isinstance(placement, ByShard) or not isinstance(placement.source, StoredMap):
        raise ValidationError(
            "map: this runtime's placement is not by_shard over a stored shard map, so there is nothing to reshard; "
            "open it with ByShard(StoredMap(...), shards, home)",
            field="map",
        )
    if placement.source.name != map_name:
        raise ValidationError(
            f"map: this runtime routes by shard map {placement.source.name!r}, not {map_name!r}", field="map"
        )
    return placement, placement.source


def plan_add(runtime: Runtime, map_name: str, count: int) -> ReshardPlan:
    """Plan adding `count` shards (the placement's shard locations the map does not route to yet, by name)."""
    count = bounded_int(count, field="count", minimum=1, maximum=MAX_ADD)
    placement, source = sharded(runtime, map_name)
    current = source.maps.current(map_name)
    free = sorted(name for name in placement.shards if name not in current.shards)
    if len(free) < count:
        raise ValidationError(
            f"count: {count} new shard(s) need as many shard locations the map does not use; this placement has "
            f"{len(free)} ({', '.join(free) or 'none'}): add shard locations first",
            field="count",
        )
    new = free[:count]
    base = _base(current.router)
    grown = _natural(base, [*base.shards, *new])
    if grown is None:  # a range router (or weighted rendezvous): the new shards take a share of every shard's slots
        owners = assignment(base)
        shares = len(set(owners)) + count
        for index, shard in enumerate(new):
            owners = _give(owners, shard, len(owners) // shares, keep=set(new[:index]))
        grown = router_of(owners, {}, [*base.shards, *new])
    return _plan(runtime, map_name, "add", _with_pins(grown, current.router))


def plan_remove(runtime: Runtime, map_name: str, shard: str) -> ReshardPlan:
    """Plan removing `shard`: its slots (and keys pinned to it) go to the other shards."""
    _, source = sharded(runtime, map_name)
    current = source.maps.current(map_name)
    shard = _known(current.router, shard)
    base = _base(current.router)
    left = [s for s in base.shards if s != shard]
    if not left:
        raise ValidationError(f"shard: {shard} is the map's only shard; add another before removing it", field="shard")
    shrunk = _natural(base, left) if not isinstance(base, JumpRouter) else None  # jump: only the last bucket leaves
    if shrunk is None:
        owners = assignment(base)
        mine = [slot for slot, owner in enumerate(owners) if owner == shard]
        for index, slot in enumerate(mine):  # contiguous shares, one per remaining shard
            owners[slot] = left[index * len(left) // len(mine)]
        shrunk = router_of(owners, {}, left)
    return _plan(runtime, map_name, "remove", _with_pins(shrunk, current.router, drop=shard))


def plan_split(runtime: Runtime, map_name: str, shard: str) -> ReshardPlan:
    """Plan splitting `shard`: the upper half of its slots goes to the first shard location the map does not use."""
    placement, source = sharded(runtime, map_name)
    current = source.maps.current(map_name)
    shard = _known(current.router, shard)
    free = sorted(name for name in placement.shards if name not in current.shards)
    if not free:
        raise ValidationError(
            f"shard: splitting {shard} needs a shard location the map does not use yet; add one first", field="shard"
        )
    base = _base(current.router)
    owners = assignment(base)
    mine = [slot for slot, owner in enumerate(owners) if owner == shard]
    if len(mine) < 2:
        raise ValidationError(f"shard: {shard} owns {len(mine)} slot(s); nothing to split", field="shard")
    for slot in mine[len(mine) // 2 :]:
        owners[slot] = free[0]
    split = router_of(owners, {}, [*base.shards, free[0]])
    return _plan(runtime, map_name, "split", _with_pins(split, current.router))


def plan_pin(runtime: Runtime, map_name: str, key: str, shard: str) -> ReshardPlan:
    """Plan moving `key` alone to `shard` (a shard location of the placement, in the map or not) by pinning it."""
    placement, source = sharded(runtime, map_name)
    if not isinstance(key, str) or not key:
        raise ValidationError("key must be a non-empty text shard key", field="key")
    shard = check_shard(shard)
    if shard not in placement.shards:
        raise ValidationError(
            f"shard: {shard!r} has no location in this placement; the shards are {', '.join(placement.shards)}",
            field="shard",
        )
    current = source.maps.current(map_name)
    router = current.router
    directory = router if isinstance(router, DirectoryRouter) else DirectoryRouter(router)
    return _plan(runtime, map_name, "pin", directory.pin(key, shard))


def _plan(runtime: Runtime, map_name: str, action: str, router: Router) -> ReshardPlan:
    placement, source = sharded(runtime, map_name)
    current = source.maps.current(map_name)
    for name in router.shards:
        placement.shard(name)  # a location for every shard the new map routes to
    old, new = assignment(current.router), assignment(router)
    old_pins, new_pins = pins(current.router), pins(router)
    pinned = old_pins.keys() | new_pins.keys()
    slots: dict[tuple[str, str], list[int]] = {}
    keys: dict[tuple[str, str], list[str]] = {}
    for slot, (was, now) in enumerate(zip(old, new, strict=True)):
        if was != now:
            slots.setdefault((was, now), []).append(slot)
    for key in sorted(pinned):
        was, now = shard_of(old, old_pins, key), shard_of(new, new_pins, key)
        if was != now:
            keys.setdefault((was, now), []).append(key)
    moves = []
    for pair in sorted(slots.keys() | keys.keys()):
        moving = set(slots.get(pair, ()))
        excluded = tuple(sorted(k for k in pinned if slot_of(k) in moving))  # a pinned key does not follow its slot
        moves.append(
            _counted(runtime, placement, pair, SlotRange(tuple(slot_runs(moving)), tuple(keys.get(pair, ())), excluded))
        )
    if not moves:
        raise ValidationError(
            f"the new map of {map_name} routes every key as the current one; nothing moves", field="map"
        )
    return ReshardPlan(new_id(), map_name, action, current.epoch, current.router, router, tuple(moves))


def _counted(runtime: Runtime, placement: ByShard, pair: tuple[str, str], slots: SlotRange) -> RangeMove:
    """Count what moving `slots` from pair[0] to pair[1] carries, at the source."""
    source, target = (runtime.location(placement.shard(name)) for name in pair)
    subject = f"{pair[0]}>{pair[1]}"
    found = plan_move(
        source, target, subject, shard_tables(source.db), ShardEvents(slots), selection=Selection.shard(subject, slots)
    )
    return RangeMove(pair[0], pair[1], slots, found.tables, found.events, found.nbytes, found.seconds)


def _base(router: Router) -> Router:
    return router.fallback if isinstance(router, DirectoryRouter) else router


def _with_pins(router: Router, current: Router, *, drop: str | None = None) -> Router:
    """`router` behind the current map's pinned keys (those pinned to `drop` follow their slot instead)."""
    kept = {key: shard for key, shard in pins(current).items() if shard != drop}
    if not kept:
        return router
    extra = sorted({shard for shard in kept.values() if shard not in router.shards})
    table: dict[Key, str] = dict(kept.items())
    return DirectoryRouter(router, table, shards=[*router.shards, *extra])


def _natural(base: Router, shards: list[str]) -> Router | None:
    """The same kind of hash router over `shards` (it moves the fewest keys), or None for a range router."""
    params = base.params()
    if isinstance(base, JumpRouter | RingRouter) or (isinstance(base, RendezvousRouter) and base.weights is None):
        return router_from_dict({"kind": base.kind, **params, "shards": shards})
    return None


def _give(owners: list[str], shard: str, share: int, *, keep: set[str]) -> list[str]:
    """Give `shard` `share` slots taken evenly from the other owners (the top of each one's slots)."""
    owners = list(owners)
    givers = sorted({o for o in owners if o not in keep and o != shard})
    each = max(share // max(len(givers), 1), 1)
    for giver in givers:
        theirs = [slot for slot, owner in enumerate(owners) if owner == giver]
        for slot in theirs[len(theirs) - each :] if each < len(theirs) else ():
            owners[slot] = shard
    return owners


def _known(router: Router, shard: str) -> str:
    shard = check_shard(shard)
    if shard not in router.shards:
        raise ValidationError(
            f"shard: the map has no shard {shard!r}; its shards are {', '.join(router.shards)}", field="shard"
        )
    return shard
