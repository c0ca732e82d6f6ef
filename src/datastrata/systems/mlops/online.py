"""The online store: the latest value of each feature view per entity, for low-latency reads at inference.

Redis when the cache is Redis (``--cache redis://…``), else the embedded store's ``mlops_online`` table. Both keep
a value only if its event time is at least the one held (a late, older value never replaces a newer one; at the
same event time the later part wins), so applying a part twice changes nothing: materialisation is idempotent.
The embedded store writes in the caller's transaction, with the checkpoint; Redis is written before the
checkpoint commits, and a run after a crash applies the part again to the same effect.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from datastrata.runtime.location import Work
from datastrata.stores.cache import Cache, RedisCache

#: One value to keep: entity id, event time (µs since the epoch), part sequence, the feature values as JSON.
Entry = tuple[str, int, int, str]
#: What a read finds per entity: (event time µs, the feature values as JSON), or None.
Found = tuple[int, str] | None

# Keep the newer value (ties: the later part); KEYS[i] an entity's hash, ARGV: (time, seq, values) per key.
_KEEP_NEWER = """
for i, key in ipairs(KEYS) do
  local t = tonumber(ARGV[3 * i - 2])
  local s = tonumber(ARGV[3 * i - 1])
  local held = redis.call('HMGET', key, 't', 's')
  local ht, hs = tonumber(held[1]), tonumber(held[2])
  if (not ht) or ht < t or (ht == t and hs <= s) then
    redis.call('HSET', key, 't', t, 's', s, 'v', ARGV[3 * i])
  end
end
return #KEYS
"""
_BATCH = 500


class OnlineStore(Protocol):
    """Where the latest feature values per entity are kept for serving."""

    name: str

    def write(self, work: Work, view: str, entries: Sequence[Entry]) -> None:
        """Keep each entry unless a newer value of that entity is held."""

    def read(self, work: Work, view: str, entity_ids: Sequence[str]) -> list[Found]:
        """Return what is held for each entity, in order."""


class EmbeddedOnline:
    """The online store as a table in the context's own store, written in the materialisation's transaction."""

    name = "embedded"

    def write(self, work: Work, view: str, entries: Sequence[Entry]) -> None:
        """Upsert, keeping the newer value (same statement on SQLite and PostgreSQL)."""
        tenant = work.scope.tenant
        work.executemany(
            "INSERT INTO mlops_online (tenant_id, view, entity_id, event_us, seq, features) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (tenant_id, view, entity_id) DO UPDATE SET event_us = excluded.event_us, "
            "seq = excluded.seq, features = excluded.features WHERE mlops_online.event_us < excluded.event_us "
            "OR (mlops_online.event_us = excluded.event_us AND mlops_online.seq <= excluded.seq)",
            [(tenant, view, e, t, s, v) for e, t, s, v in entries],
        )

    def read(self, work: Work, view: str, entity_ids: Sequence[str]) -> list[Found]:
        """Look the entities up by primary key."""
        found: dict[str, tuple[int, str]] = {}
        for start in range(0, len(entity_ids), _BATCH):
            chunk = list(entity_ids[start : start + _BATCH])
            marks = ", ".join("?" for _ in chunk)
            for entity, t, values in work.query(
                "SELECT entity_id, event_us, features FROM mlops_online WHERE tenant_id = ? AND view = ? "
                f"AND entity_id IN ({marks})",
                (work.scope.tenant, view, *chunk),
            ):
                found[str(entity)] = (int(t), str(values))
        return [found.get(e) for e in entity_ids]


class RedisOnline:
    """The online store in Redis: a hash per entity (``t`` event time, ``s`` part, ``v`` values)."""

    def __init__(self, cache: RedisCache) -> None:
        self.client: Any = cache.client
        self.name = "redis"
        self._keep = self.client.register_script(_KEEP_NEWER)

    def write(self, work: Work, view: str, entries: Sequence[Entry]) -> None:
        """Keep the newer values, a batch per script call (atomic per batch), the calls pipelined."""
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, len(entries), _BATCH):
            chunk = entries[start : start + _BATCH]
            keys = [self._key(work, view, e[0]) for e in chunk]
            args: list[object] = []
            for _, t, s, v in chunk:
                args += [t, s, v]
            self._keep(keys=keys, args=args, client=pipe)
        pipe.execute()

    def read(self, work: Work, view: str, entity_ids: Sequence[str]) -> list[Found]:
        """HMGET each entity's hash in one pipeline."""
        pipe = self.client.pipeline(transaction=False)
        for entity in entity_ids:
            pipe.hmget(self._key(work, view, entity), "t", "v")
        return [None if t is None else (int(t), str(v)) for t, v in pipe.execute()]

    @staticmethod
    def _key(work: Work, view: str, entity: str) -> str:
        return "datastrata:mlops:" + json.dumps([work.scope.tenant, view, entity], separators=(",", ":"))


def online_store(cache: Cache) -> OnlineStore:
    """Redis when the configured cache is Redis, else the embedded table."""
    return RedisOnline(cache) if isinstance(cache, RedisCache) else EmbeddedOnline()
