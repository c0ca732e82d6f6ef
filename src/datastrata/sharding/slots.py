"""Hash slots: every shard key falls in one of 16384 slots (its xxh3 hash's top 14 bits), and shard maps route slots.

Rows of a sharded table carry their key's slot (``shard_slot``), so what a reshard moves is a SQL predicate over
slots (``shard_slot BETWEEN lo AND hi``), like Redis Cluster's hash slots and Vitess's keyspace-id ranges. A slot is
an ``int`` key to every router; pinned keys (a directory's table) are matched by the key itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from datastrata.sharding.keys import Key, hash_key

#: How many slots the key space is cut into (Redis Cluster's number): enough that 1/(n+1) of them is 1/(n+1) of keys.
SLOTS = 16384
_SHIFT = 64 - SLOTS.bit_length() + 1  # the hash's top 14 bits


def slot_of(key: Key) -> int:
    """Return the slot 0..SLOTS-1 of `key` (the same in every process)."""
    return hash_key(key) >> _SHIFT


def slot_runs(slots: Iterable[int]) -> list[tuple[int, int]]:
    """Return `slots` as sorted, merged inclusive runs ``(first, last)`` (what a move's predicate names)."""
    runs: list[tuple[int, int]] = []
    for slot in sorted(set(slots)):
        if runs and runs[-1][1] == slot - 1:
            runs[-1] = (runs[-1][0], slot)
        else:
            runs.append((slot, slot))
    return runs
