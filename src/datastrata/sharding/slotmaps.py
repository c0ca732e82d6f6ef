"""Slot assignments: which shard owns each of the 16384 slots under a router, and the router that says so.

A reshard compares two routers slot by slot (what moves from which shard to which), and a switch that carries only
some ranges installs the map in between as a range router over the slots (boundaries where the owner changes),
with the directory's pinned keys in front of it when there are any.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from datastrata.sharding.directory import DirectoryRouter
from datastrata.sharding.keys import Key
from datastrata.sharding.ranges import RangeRouter
from datastrata.sharding.router import Router
from datastrata.sharding.slots import SLOTS, slot_of

#: Every slot, in order (what an assignment is computed over).
ALL_SLOTS = range(SLOTS)


def assignment(router: Router) -> list[str]:
    """Return the owner of every slot under `router` (a directory's fallback routes the slots)."""
    base = router.fallback if isinstance(router, DirectoryRouter) else router
    if isinstance(base, RangeRouter) and base.key_type == "int":  # read off its ranges (no key encoded per slot)
        owners: list[str] = []
        for piece in base.ranges():
            start = 0 if piece.start is None else max(0, min(int(piece.start), SLOTS))
            end = SLOTS if piece.end is None else max(0, min(int(piece.end), SLOTS))
            owners += [piece.shard] * max(0, end - max(start, len(owners)))
        return owners
    return base.route_many(ALL_SLOTS)


def pins(router: Router) -> dict[str, str]:
    """Return the keys a directory pins and their shards (none for another router)."""
    if not isinstance(router, DirectoryRouter):
        return {}
    return {str(key): shard for key, shard in router.table.items()}


def router_of(owners: Sequence[str], pinned: Mapping[str, str], shards: Sequence[str]) -> Router:
    """Return a router giving each slot its owner in `owners` and each pinned key its shard (`shards` in order)."""
    bounds: list[int] = []
    runs: list[str] = [owners[0]]
    for slot in range(1, len(owners)):
        if owners[slot] != runs[-1]:
            bounds.append(slot)
            runs.append(owners[slot])
    owning = set(owners)
    used = [s for s in shards if s in owning]
    ranges = RangeRouter(used, bounds, runs, key_type="int")
    if not pinned:
        return ranges
    extra = [s for s in shards if s not in owning and s in set(pinned.values())]
    table: dict[Key, str] = dict(pinned.items())
    return DirectoryRouter(ranges, table, shards=[*used, *extra])


def shard_of(owners: Sequence[str], pinned: Mapping[str, str], key: str) -> str:
    """The shard `key` lives on under an assignment: its pin, else its slot's owner."""
    return pinned.get(key) or owners[slot_of(key)]


def same_routes(left: Router, right: Router) -> bool:
    """Whether two routers put every slot and every pinned key (of either) on the same shard."""
    owners, theirs = assignment(left), assignment(right)
    if owners != theirs:
        return False
    ours, other = pins(left), pins(right)
    return all(shard_of(owners, ours, k) == shard_of(theirs, other, k) for k in ours.keys() | other.keys())
