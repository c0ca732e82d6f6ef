"""Load per shard, per hot key and per slot band over a sliding window, in bounded memory, cheap per operation.

Time is cut into buckets of `width` seconds (wall-clock aligned, so every process's buckets line up); the window is
the last `buckets` of them. Each bucket counts reads, writes and payload bytes exactly per shard and per slot band
(:data:`BAND_SLOTS` consecutive slots) and per key in a :class:`HeavyHitters` summary of bounded size — so memory
stays bounded however many distinct keys pass, and a key whose load is over a threshold is never missed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import xxhash

from datastrata.core.errors import ValidationError
from datastrata.sharding.slots import SLOTS, slot_of

if TYPE_CHECKING:
    from datastrata.runtime.scope import Scope

#: Consecutive slots counted together (64 bands over the key space): the resolution of a load-based split point.
BAND_SLOTS = 256
#: How many bands the slots fall in.
BANDS = SLOTS // BAND_SLOTS
_BAND_SHIFT = 64 - BANDS.bit_length() + 1  # a band is the hash's top 6 bits (a slot's top 6 of its 14)
_hash = xxhash.xxh3_64_intdigest
#: Default bucket width and count: a 10-second window sliding by one second.
WIDTH = 1.0
BUCKETS = 10
#: Default distinct keys a bucket's summary keeps exactly (it holds up to twice that between trims).
CAPACITY = 256


def band_of(key: str) -> int:
    """Return the slot band of a scope key: ``slot_of(key) // BAND_SLOTS``, from the hash's top bits at once."""
    try:
        return _hash(key.encode("utf-8")) >> _BAND_SHIFT
    except UnicodeEncodeError:  # not a valid scope key; slot_of names the problem
        return slot_of(key) // BAND_SLOTS


class HeavyHitters:
    """Space-Saving (Metwally et al., 2005) with batched eviction: the heaviest keys of a stream in bounded memory.

    Up to ``2 * capacity`` keys are counted; past that the lightest are dropped down to `capacity` and the heaviest
    dropped count becomes the floor a new key starts from (its `error`). So a key's estimate (ops + error) never
    under-counts, over-counts by at most its error, and every key with more than `floor` operations is held.
    """

    __slots__ = ("capacity", "entries", "floor")

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        #: key -> [reads, writes, bytes, error] (reads and writes seen since the key was last admitted).
        self.entries: dict[tuple[str, str], list[int]] = {}
        self.floor = 0

    def add(self, item: tuple[str, str], reads: int, writes: int, nbytes: int) -> None:
        """Count one operation's reads, writes and bytes for `item` (shard, key)."""
        entry = self.entries.get(item)
        if entry is None:
            if len(self.entries) >= 2 * self.capacity:
                self._trim()
            entry = self.entries[item] = [0, 0, 0, self.floor]
        entry[0] += reads
        entry[1] += writes
        entry[2] += nbytes

    def _trim(self) -> None:
        ranked = sorted(self.entries.items(), key=lambda kv: kv[1][0] + kv[1][1] + kv[1][3], reverse=True)
        dropped = ranked[self.capacity :]
        if dropped:
            self.floor = max(self.floor, max(v[0] + v[1] + v[3] for _, v in dropped))
        self.entries = dict(ranked[: self.capacity])

    def top(self, count: int) -> list[tuple[tuple[str, str], list[int]]]:
        """Return the `count` heaviest keys, heaviest first, each with [reads, writes, bytes, error]."""
        ranked = sorted(self.entries.items(), key=lambda kv: kv[1][0] + kv[1][1] + kv[1][3], reverse=True)
        return [(item, list(values)) for item, values in ranked[:count]]


@dataclass(slots=True)
class Bucket:
    """One `width`-second bucket's counts."""

    index: int
    #: shard -> [reads, writes, bytes]
    shards: dict[str, list[int]] = field(default_factory=dict)
    #: (shard, band) -> operations
    bands: dict[tuple[str, int], int] = field(default_factory=dict)
    keys: HeavyHitters = field(default_factory=HeavyHitters)
    #: Counted into since it was last flushed.
    dirty: bool = False


class LoadMeter:
    """The load of one shard map's shards as this process sees it: reads, writes and bytes per shard and key."""

    def __init__(
        self,
        map_name: str,
        shards: Container[str],
        *,
        width: float = WIDTH,
        buckets: int = BUCKETS,
        capacity: int = CAPACITY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0.1 <= width <= 3600:
            raise ValidationError(f"width must be 0.1-3600 seconds; got {width!r}", field="width")
        if not 1 <= buckets <= 3600:
            raise ValidationError(f"buckets must be 1-3600; got {buckets!r}", field="buckets")
        if not 8 <= capacity <= 100_000:
            raise ValidationError(f"capacity must be 8-100000 keys; got {capacity!r}", field="capacity")
        self.map_name = map_name
        #: The shard names counted (the placement's own mapping, so shards it gains later count too).
        self.shards = shards
        self.width = width
        self.buckets = buckets
        self.capacity = capacity
        self.clock = clock
        self._lock = threading.Lock()
        self._held: dict[int, Bucket] = {}
        self._current: Bucket | None = None

    @property
    def window(self) -> float:
        """The window's length in seconds."""
        return self.width * self.buckets

    def read(self, shard: str, scope: Scope) -> None:
        """Count a read of `scope` on `shard` (nothing for a keyless scope or a location that is no shard)."""
        if scope.key is not None and shard in self.shards:
            self.record(shard, scope.key, 1, 0, 0)

    def wrote(self, shard: str, scope: Scope, nbytes: int) -> None:
        """Count a write of `scope` on `shard` that appended `nbytes` payload bytes."""
        if scope.key is not None and shard in self.shards:
            self.record(shard, scope.key, 0, 1, nbytes)

    def record(self, shard: str, key: str, reads: int = 0, writes: int = 0, nbytes: int = 0) -> None:
        """Count `reads`, `writes` and `nbytes` of `key` on `shard` in the current bucket."""
        index = int(self.clock() // self.width)
        band = band_of(key)
        item = (shard, key)
        with self._lock:
            bucket = self._current
            if bucket is None or bucket.index != index:
                bucket = self._roll(index)
            totals = bucket.shards.get(shard)
            if totals is None:
                totals = bucket.shards[shard] = [0, 0, 0]
            totals[0] += reads
            totals[1] += writes
            totals[2] += nbytes
            bands = bucket.bands
            where = (shard, band)
            bands[where] = bands.get(where, 0) + reads + writes
            keys = bucket.keys
            entry = keys.entries.get(item)
            if entry is None:
                keys.add(item, reads, writes, nbytes)  # admits it (trimming when full)
            else:
                entry[0] += reads
                entry[1] += writes
                entry[2] += nbytes
            bucket.dirty = True

    def _roll(self, index: int) -> Bucket:
        """Make bucket `index` current, dropping buckets that fell out of the window (bounded memory)."""
        bucket = self._held.get(index)
        if bucket is None:
            bucket = self._held[index] = Bucket(index, keys=HeavyHitters(self.capacity))
        for old in [i for i in self._held if i <= index - self.buckets]:
            del self._held[old]
        self._current = bucket
        return bucket

    def held(self) -> int:
        """How many buckets are held (at most the window's count plus one)."""
        with self._lock:
            return len(self._held)

    def keys_held(self) -> int:
        """How many distinct keys the held buckets count (bounded by buckets x 2 x capacity)."""
        with self._lock:
            return sum(len(b.keys.entries) for b in self._held.values())

    def take_dirty(self, keys: int) -> list[BucketView]:
        """Return a copy of every bucket counted into since the last call (its `keys` heaviest keys), marking them."""
        with self._lock:
            held = sorted(self._held.values(), key=lambda b: b.index)
            views = [_view(b, keys, self.width) for b in held if b.dirty]
            for bucket in self._held.values():
                bucket.dirty = False
        return views

    def mark_dirty(self, indexes: list[int]) -> None:
        """Mark buckets dirty again (their flush failed; the next one writes them)."""
        with self._lock:
            for index in indexes:
                bucket = self._held.get(index)
                if bucket is not None:
                    bucket.dirty = True

    def views(self, keys: int) -> list[BucketView]:
        """Return a copy of every bucket in the window now, oldest first."""
        now = int(self.clock() // self.width)
        with self._lock:
            held = sorted(self._held.values(), key=lambda b: b.index)
            return [_view(b, keys, self.width) for b in held if b.index > now - self.buckets]


@dataclass(frozen=True, slots=True)
class BucketView:
    """A copy of one bucket taken under the meter's lock: what a flush writes and detection reads."""

    index: int
    width: float
    shards: dict[str, tuple[int, int, int]]
    bands: dict[tuple[str, int], int]
    #: (shard, key) -> (reads, writes, bytes, error), the heaviest keys only.
    keys: dict[tuple[str, str], tuple[int, int, int, int]]

    @property
    def start(self) -> float:
        """The bucket's start, in seconds since the epoch."""
        return self.index * self.width

    def key_rows(self) -> Iterator[tuple[str, str, int, int, int, int]]:
        """Yield (shard, key, reads, writes, bytes, error) for each held key."""
        for (shard, key), (reads, writes, nbytes, error) in self.keys.items():
            yield shard, key, reads, writes, nbytes, error


def _view(bucket: Bucket, keys: int, width: float) -> BucketView:
    return BucketView(
        bucket.index,
        width,
        {shard: (t[0], t[1], t[2]) for shard, t in bucket.shards.items()},
        dict(bucket.bands),
        {item: (v[0], v[1], v[2], v[3]) for item, v in bucket.keys.top(keys)},
    )
