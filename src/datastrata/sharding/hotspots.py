"""Hotspots: a key or a shard's slot range whose load is over a threshold, and what to do about it.

Like CockroachDB's load-based splitting (``kv.range_split.load_qps_threshold``, 2500 by default), a threshold is
operations per second averaged over the window. A key over :attr:`Thresholds.key_qps` is pinned to a shard of its
own through the map's directory; a shard whose load *without* its hot keys is over :attr:`Thresholds.range_qps` is
split at the slot that halves that load (the slots of the shard from there on move to a new shard).
"""

from __future__ import annotations

from dataclasses import dataclass

from datastrata.core.validation import bounded_float
from datastrata.sharding.directory import DirectoryRouter
from datastrata.sharding.load import BAND_SLOTS
from datastrata.sharding.loadstore import KeyLoad, LoadReport, ShardLoad
from datastrata.sharding.placement import route_key
from datastrata.sharding.router import Router
from datastrata.sharding.shardmap import ShardMap
from datastrata.sharding.slots import SLOTS, slot_of, slot_runs

#: Default operations per second that make one key hot.
KEY_QPS = 500.0
#: Default operations per second that make a shard's range hot (CockroachDB's load-based split threshold).
RANGE_QPS = 2500.0
#: The most operations per second a threshold takes.
MAX_QPS = 1e9


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a key or a range is hot: operations per second over the window."""

    key_qps: float = KEY_QPS
    range_qps: float = RANGE_QPS

    def __post_init__(self) -> None:
        bounded_float(self.key_qps, field="key_qps", minimum=0.001, maximum=MAX_QPS)
        bounded_float(self.range_qps, field="range_qps", minimum=0.001, maximum=MAX_QPS)

    def to_dict(self) -> dict[str, float]:
        """Return a JSON-friendly dict."""
        return {"key_qps": self.key_qps, "range_qps": self.range_qps}


@dataclass(frozen=True, slots=True)
class Hotspot:
    """One hot key or hot range, and the action that relieves it (None when nothing can: said in `reason`)."""

    kind: str  # "key" or "range"
    shard: str
    qps: float
    key: str | None = None
    #: ``pin`` (the key to `target`) or ``split`` (the shard's slots from `at_slot` on, to `target`); or None.
    action: str | None = None
    target: str | None = None
    at_slot: int | None = None
    #: The slot runs a split moves (first, last), inclusive.
    runs: tuple[tuple[int, int], ...] = ()
    #: The share of the range's load the split moves.
    moved_share: float | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-friendly dict."""
        data: dict[str, object] = {"kind": self.kind, "shard": self.shard, "qps": round(self.qps, 3)}
        if self.key is not None:
            data["key"] = self.key
            data["slot"] = slot_of(self.key)
        data["action"] = self.action
        if self.target is not None:
            data["target"] = self.target
        if self.at_slot is not None:
            data["at_slot"] = self.at_slot
            data["runs"] = [list(run) for run in self.runs]
            data["moved_share"] = None if self.moved_share is None else round(self.moved_share, 4)
        if self.reason:
            data["reason"] = self.reason
        return data


def detect(report: LoadReport, shard_map: ShardMap | None, thresholds: Thresholds | None = None) -> list[Hotspot]:
    """Return the hot keys (heaviest first), then the hot ranges, of `report` under `shard_map` (None: not stored)."""
    limits = thresholds or Thresholds()
    names = set(report.shards) | (set() if shard_map is None else set(shard_map.shards))
    found: list[Hotspot] = []
    hot_by_shard: dict[str, list[KeyLoad]] = {}
    for key in report.keys:
        if key.qps < limits.key_qps:
            break  # heaviest first
        hot_by_shard.setdefault(key.shard, []).append(key)
        found.append(_pin(key, shard_map, names))
        names.add(found[-1].target or "")
    for name in sorted(report.shards):
        load = report.shards[name]
        hot = hot_by_shard.get(name, [])
        rest = load.qps - sum(k.qps for k in hot)
        if rest >= limits.range_qps:
            found.append(_split(load, hot, rest, shard_map, names))
            names.add(found[-1].target or "")
    return found


def _pin(key: KeyLoad, shard_map: ShardMap | None, names: set[str]) -> Hotspot:
    """Pin `key` to a new shard of its own, unless it has one already."""
    if shard_map is None:
        return Hotspot("key", key.shard, key.qps, key.key, action="pin", target=_new_name("hot", names))
    router = shard_map.router
    current = route_key(shard_map, key.key).shard  # where it lives now (its load may have been counted elsewhere)
    if isinstance(router, DirectoryRouter) and router.pinned(key.key) == current:
        others = [k for k, s in router.table.items() if s == current and k != key.key]
        if not others and current not in router.fallback.shards:
            return Hotspot("key", current, key.qps, key.key, reason="the key is alone on its shard already")
    return Hotspot("key", current, key.qps, key.key, action="pin", target=_new_name("hot", names))


def _split(load: ShardLoad, hot: list[KeyLoad], rest: float, shard_map: ShardMap | None, names: set[str]) -> Hotspot:
    """Split `load`'s shard at the slot band boundary that halves its load without its hot keys."""
    bands = dict(load.bands)
    for key in hot:  # the pinned keys leave; what is left decides the split
        band = key.slot // BAND_SLOTS
        bands[band] = max(0, bands.get(band, 0) - (key.reads + key.writes))
    loaded = sorted(b for b, ops in bands.items() if ops > 0)
    if len(loaded) < 2:
        return Hotspot(
            "range",
            load.shard,
            rest,
            reason=f"its load is within one band of {BAND_SLOTS} slots: no split point relieves it",
        )
    total = sum(bands[b] for b in loaded)

    def imbalance(band: int) -> tuple[float, int]:
        return abs(sum(bands[b] for b in loaded if b < band) - total / 2), band

    at_band = min(loaded[1:], key=imbalance)  # the boundary closest to halving the load
    moved = sum(bands[b] for b in loaded if b >= at_band) / total
    at_slot = at_band * BAND_SLOTS
    slots = [] if shard_map is None else _slots_of(shard_map.router, load.shard)
    runs = tuple(slot_runs(s for s in slots if s >= at_slot))
    return Hotspot(
        "range",
        load.shard,
        rest,
        action="split",
        target=_new_name(f"{load.shard[:50]}.", names),
        at_slot=at_slot,
        runs=runs,
        moved_share=moved,
    )


def _slots_of(router: Router, shard: str) -> list[int]:
    """The slots `router` routes to `shard` (a directory's fallback routes slots)."""
    if isinstance(router, DirectoryRouter):
        router = router.fallback
    return [slot for slot in range(SLOTS) if router.route(slot) == shard]


def _new_name(prefix: str, taken: set[str]) -> str:
    """Return ``<prefix><n>`` for the smallest n >= 1 no shard has."""
    n = 1
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"
