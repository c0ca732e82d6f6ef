"""What a shard move carries: slot runs of a shard map and pinned keys, as a SQL predicate and a key test.

Rows of a sharded table carry ``shard_slot`` and ``shard_key`` (the sharding convention), so a range is
``shard_slot BETWEEN lo AND hi`` OR-ed over its runs (many runs: ``shard_slot IN (…)``, which both engines look up
instead of scanning a list), minus the keys a directory pins (they do not follow their slot), plus the pinned keys
that move themselves (``shard_key IN (…)``). Slots are validated integers, so they are written into the SQL.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from datastrata.core.errors import ValidationError
from datastrata.sharding.slots import SLOTS, slot_of

#: Runs up to this many are OR-ed ``BETWEEN``s; more become one ``IN`` list of their slots.
MAX_BETWEENS = 8
#: The most pinned keys one range names (moved or excluded).
MAX_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class SlotRange:
    """Slot runs ``(first, last)`` and pinned keys that move, minus the pinned keys that stay (`excluded`)."""

    runs: tuple[tuple[int, int], ...] = ()
    keys: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        last = -1
        for first, end in self.runs:
            if not (isinstance(first, int) and isinstance(end, int) and 0 <= first <= end < SLOTS and first > last):
                raise ValidationError(
                    f"runs must be ascending, disjoint (first, last) slot pairs within 0..{SLOTS - 1}; got "
                    f"({first!r}, {end!r})",
                    field="runs",
                )
            last = end
        for name, keys in (("keys", self.keys), ("excluded", self.excluded)):
            if len(keys) > MAX_KEYS or not all(isinstance(k, str) for k in keys):
                raise ValidationError(f"{name} must be at most {MAX_KEYS} text keys", field=name)
        if not self.runs and not self.keys:
            raise ValidationError("a shard range needs slot runs or pinned keys; this one names nothing", field="runs")

    @property
    def slots(self) -> int:
        """How many slots the runs cover."""
        return sum(end - first + 1 for first, end in self.runs)

    def holds(self, key: str) -> bool:
        """Whether the rows and events of shard key `key` belong to this range."""
        return self.holder()(key)

    def holder(self) -> Callable[[str], bool]:
        """:meth:`holds` with this range's sets made once (a move tests every event of a log against it)."""
        keys, excluded, slots = _members(self.keys), _members(self.excluded), _slots(self.runs)

        def holds(key: str) -> bool:
            if key in keys:
                return True
            return key not in excluded and slot_of(key) in slots

        return holds

    def predicate(self, *, unindexed: bool = False) -> tuple[str, tuple[Any, ...]]:
        """The SQL condition selecting this range's rows and its parameters.

        `unindexed` writes the slot column as ``+shard_slot``, which keeps SQLite from answering through an index on
        ``shard_slot`` (a scan in key order must read the key's index, not sort every row of the range per page).
        """
        column = "+shard_slot" if unindexed else "shard_slot"
        parts: list[str] = []
        params: list[Any] = []
        if self.runs:
            if len(self.runs) <= MAX_BETWEENS:
                slots = " OR ".join(f"{column} BETWEEN {first} AND {end}" for first, end in self.runs)
            else:
                listed = ",".join(str(s) for first, end in self.runs for s in range(first, end + 1))
                slots = f"{column} IN ({listed})"
            if self.excluded:
                slots = f"({slots}) AND shard_key NOT IN ({', '.join('?' for _ in self.excluded)})"
                params += self.excluded
            parts.append(f"({slots})")
        if self.keys:
            parts.append(f"shard_key IN ({', '.join('?' for _ in self.keys)})")
            params += self.keys
        return "(" + " OR ".join(parts) + ")", tuple(params)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape (as journalled and planned)."""
        return {"runs": [list(r) for r in self.runs], "keys": list(self.keys), "excluded": list(self.excluded)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SlotRange:
        """Return the range `data` (as :meth:`to_dict` wrote it) describes."""
        if not isinstance(data, Mapping):
            raise ValidationError("a shard range must be an object with runs, keys and excluded", field="range")
        runs = data.get("runs", [])
        if not isinstance(runs, list) or not all(isinstance(r, Sequence) and len(r) == 2 for r in runs):
            raise ValidationError("runs must be a list of [first, last] slot pairs", field="runs")
        lists = {name: data.get(name, []) for name in ("keys", "excluded")}
        for name, value in lists.items():
            if not isinstance(value, list | tuple):
                raise ValidationError(f"{name} must be a list of shard keys", field=name)
        return cls(tuple((r[0], r[1]) for r in runs), tuple(lists["keys"]), tuple(lists["excluded"]))


@functools.lru_cache(maxsize=64)
def _slots(runs: tuple[tuple[int, int], ...]) -> frozenset[int]:
    """The slots of `runs` as a set (a range of a jump reshard has thousands of runs: tested per event)."""
    return frozenset(slot for first, end in runs for slot in range(first, end + 1))


@functools.lru_cache(maxsize=64)
def _members(keys: tuple[str, ...]) -> frozenset[str]:
    return frozenset(keys)


def key_of_stream(stream_id: str) -> str | None:
    """The shard key of a sharded context's stream ``<context>-<key>`` (None: a stream without a key)."""
    _, dash, key = stream_id.partition("-")
    return key if dash else None
