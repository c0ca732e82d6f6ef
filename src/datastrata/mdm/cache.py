"""Cache-aside reads of current master data: a hit returns, a miss loads once per key and fills behind a fence.

The classic cache-aside race — a reader loads the old value, a writer commits and invalidates, then the reader
puts the old value back — is closed by a *fence*: every invalidation bumps a generation of the key, and a fill
only lands if the generation is still the one the loader saw before it read the store. So once ``put`` has
returned (its change listeners run after commit and before it returns), no reader can see the older value.

An in-process cache hears only this process's invalidations, and the store may be written by other processes
(PostgreSQL, or a SQLite file shared by ``serve`` and the CLI). So over a cache that is not shared, every hit is
also checked against the record's revision in the store (one indexed read): an entry whose revision is not the
store's current one is loaded again. Over Redis, every writer's invalidation reaches every reader, and hits stay
one GET.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol

from datastrata.core.errors import BackendUnavailable, ValidationError
from datastrata.core.tenancy import current_tenant
from datastrata.mdm.records import MasterRecord
from datastrata.mdm.store import MasterDataStore
from datastrata.stores.cache import Cache, RedisCache

#: Longest time a current value stays cached, in seconds, when nothing is scheduled to change it sooner.
DEFAULT_TTL = 300.0
#: How long a Redis generation key outlives its last invalidation (far longer than any load).
GENERATION_TTL_MS = 24 * 3600 * 1000
_MEMO_LIMIT = 10_000


class Fence(Protocol):
    """Orders fills against invalidations of the same cache key."""

    def token(self, key: str) -> str:
        """Return the key's generation; take it before reading the store."""

    def fill(self, key: str, token: str, value: str, ttl: float) -> bool:
        """Cache `value` for `ttl` seconds unless the key was invalidated since `token` was taken."""

    def invalidate(self, key: str) -> None:
        """Bump the key's generation and drop its cached value."""


class LocalFence:
    """Generations kept in this process: right for the in-process cache, whose writers all run here.

    Keys share `stripes` generation counters (by hash), so memory stays fixed however many keys are written; an
    invalidation of another key in the same stripe during a load only makes that fill skip the cache once.
    """

    def __init__(self, cache: Cache, *, stripes: int = 4096) -> None:
        self.cache = cache
        self._lock = threading.Lock()
        self._generations = [0] * stripes

    def _stripe(self, key: str) -> int:
        return hash(key) % len(self._generations)

    def token(self, key: str) -> str:
        """Return the generation of the key's stripe in this process."""
        return str(self._generations[self._stripe(key)])

    def fill(self, key: str, token: str, value: str, ttl: float) -> bool:
        """Set the value under the fence lock if no invalidation happened in the key's stripe since `token`."""
        with self._lock:
            if str(self._generations[self._stripe(key)]) != token:
                return False
            self.cache.set(key, value, ttl=ttl)
            return True

    def invalidate(self, key: str) -> None:
        """Bump the stripe's generation and delete the value, under the fence lock."""
        with self._lock:
            self._generations[self._stripe(key)] += 1
            self.cache.delete(key)


_FILL = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
_INVALIDATE = """
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
"""


class RedisFence:
    """Generations kept in Redis next to the values; fill and invalidate are atomic Lua scripts."""

    def __init__(self, cache: RedisCache) -> None:
        import redis

        self.cache = cache
        self._fill = cache.client.register_script(_FILL)
        self._invalidate = cache.client.register_script(_INVALIDATE)
        self._errors: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError)

    def _keys(self, key: str) -> list[str]:
        return [self.cache.prefix + key, f"{self.cache.prefix}gen:{key}"]

    def token(self, key: str) -> str:
        """GET the key's generation ('0' when it was never invalidated)."""
        try:
            value = self.cache.client.get(self._keys(key)[1])
        except self._errors as exc:
            raise BackendUnavailable(f"Redis cache at {self.cache.name} failed: {exc}") from exc
        return "0" if value is None else str(value)

    def fill(self, key: str, token: str, value: str, ttl: float) -> bool:
        """SET the value (with a millisecond TTL) only if the generation still equals `token`."""
        try:
            return bool(self._fill(keys=self._keys(key), args=[token, value, max(int(ttl * 1000), 1)]))
        except self._errors as exc:
            raise BackendUnavailable(f"Redis cache at {self.cache.name} failed: {exc}") from exc

    def invalidate(self, key: str) -> None:
        """INCR the generation and DEL the value in one step."""
        try:
            self._invalidate(keys=self._keys(key), args=[GENERATION_TTL_MS])
        except self._errors as exc:
            raise BackendUnavailable(f"Redis cache at {self.cache.name} failed: {exc}") from exc


def fence_for(cache: Cache) -> Fence:
    """Return the fence that suits `cache`: in Redis for Redis, in this process otherwise."""
    return RedisFence(cache) if isinstance(cache, RedisCache) else LocalFence(cache)


@dataclass(frozen=True, slots=True)
class _Entry:
    """A decoded cache entry: the current record (None: no current record) and when it may next change."""

    record: MasterRecord | None
    until: datetime | None
    version: int | None = None


class CachedReader:
    """Reads current master data through a cache; ``as_of`` / ``as_known_at`` reads go to the store.

    An entry never outlives the key's next scheduled change: its TTL is capped at ``next_change - now`` (and at
    `ttl`), and a hit is also checked against that instant on the store's clock, so a test clock moved past it
    (or a host whose clock runs ahead) reloads. Writes through `store` invalidate after commit via ``on_change``;
    over a cache that is not shared (the in-process one), a hit is served only while its revision is the store's
    (``checks_versions``), so writes by other processes are seen at once too.
    """

    def __init__(
        self, store: MasterDataStore, cache: Cache, *, ttl: float = DEFAULT_TTL, fence: Fence | None = None
    ) -> None:
        if ttl <= 0:
            raise ValidationError(f"ttl must be more than 0 seconds; got {ttl}", field="ttl")
        self.store = store
        self.cache = cache
        self.ttl = ttl
        self.fence = fence if fence is not None else fence_for(cache)
        #: True when hits are checked against the store's revision (every cache that is not shared by processes).
        self.checks_versions = not getattr(cache, "shared", False)
        self.loads = 0
        self._loads_lock = threading.Lock()
        self._memo: dict[str, _Entry] = {}
        self._unsubscribe = store.on_change(self._changed)

    def close(self) -> None:
        """Stop following the store's changes (the cache itself stays open)."""
        self._unsubscribe()

    @staticmethod
    def cache_key(entity_type: str, entity_key: str) -> str:
        """Return the cache key of a record in the current tenant."""
        return f"mdm:{current_tenant()}:{entity_type}:{entity_key}"

    def get(
        self,
        entity_type: str,
        entity_key: str,
        *,
        as_of: datetime | None = None,
        as_known_at: datetime | None = None,
    ) -> MasterRecord | None:
        """Return the current record from the cache (loading it on a miss); time-travel reads go to the store."""
        if as_of is not None or as_known_at is not None:
            return self.store.get(entity_type, entity_key, as_of=as_of, as_known_at=as_known_at)
        key = self.cache_key(entity_type, entity_key)
        raw = self.cache.get(key)
        if raw is not None:
            entry = self._decode(raw)
            if self._current(entry, entity_type, entity_key):
                return entry.record
            self.cache.delete(key)  # its next change has come, or another process wrote: reload
        return self._load(key, entity_type, entity_key)

    def invalidate(self, entity_type: str, entity_key: str) -> None:
        """Drop the cached value of a record (writes through the store do this by themselves)."""
        self.fence.invalidate(self.cache_key(entity_type, entity_key))

    def _changed(self, entity_type: str, entity_key: str, next_change_at: datetime | None) -> None:
        """The store's after-commit hook: invalidate the key."""
        self.invalidate(entity_type, entity_key)

    def _current(self, entry: _Entry, entity_type: str, entity_key: str) -> bool:
        """Whether a cached entry may be served: before its next change and, when checked, at the store's revision."""
        if entry.until is not None and self.store.clock() >= entry.until:
            return False
        return not self.checks_versions or entry.version == self.store.revision(entity_type, entity_key)

    def _load(self, key: str, entity_type: str, entity_key: str) -> MasterRecord | None:
        """Load through get_or_load (one loader per key); the loader fills through the fence itself."""
        loaded: list[_Entry] = []

        def loader() -> tuple[str | None, float | None]:
            token = self.fence.token(key)
            # The revision is read before the record: a write in between makes the entry look older, never newer.
            version = self.store.revision(entity_type, entity_key) if self.checks_versions else None
            now = self.store.clock()
            record = self.store.get(entity_type, entity_key, as_of=now)
            until = self.store.next_change(entity_type, entity_key, after=now)
            with self._loads_lock:
                self.loads += 1
            entry = _Entry(_frozen(record), until, version)
            loaded.append(entry)
            ttl = self.ttl if until is None else min(self.ttl, (until - now).total_seconds())
            if ttl > 0:
                raw = _encode(entry)
                if self.fence.fill(key, token, raw, ttl):
                    self._remember(raw, entry)
            # The fence has filled (or refused to fill) the entry; get_or_load only provides the single flight.
            return None, None

        raw = self.cache.get_or_load(key, loader)
        if loaded:
            return loaded[0].record
        if raw is not None:
            entry = self._decode(raw)
            if self._current(entry, entity_type, entity_key):
                return entry.record
        return self.store.get(entity_type, entity_key)

    def _decode(self, raw: str) -> _Entry:
        """Decode a cached entry, remembering decoded entries by their text (a str caches its own hash)."""
        entry = self._memo.get(raw)
        if entry is None:
            entry = _decode(raw, self.store)
            self._remember(raw, entry)
        return entry

    def _remember(self, raw: str, entry: _Entry) -> None:
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
        self._memo[raw] = entry


def _frozen(record: MasterRecord | None) -> MasterRecord | None:
    """Return `record` with read-only attributes, since cached records are shared between callers."""
    if record is None:
        return None
    return replace(record, attributes=MappingProxyType(dict(record.attributes)))


def _encode(entry: _Entry) -> str:
    """The cached text of an entry: the record's JSON form and the instant it may next change."""
    body: dict[str, Any] = {
        "record": None if entry.record is None else entry.record.to_dict(),
        "until": None if entry.until is None else entry.until.isoformat(),
        "version": entry.version,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _decode(raw: str, store: MasterDataStore) -> _Entry:
    """Rebuild an entry, typing attributes by the store's registered entity type."""
    body = json.loads(raw)
    data = body["record"]
    until = _time(body["until"])
    version = body.get("version")
    if data is None:
        return _Entry(None, until, version)
    schema = store.types.find(data["entity_type"])
    attributes = dict(data["attributes"]) if schema is None else schema.load(data["attributes"])
    record = MasterRecord(
        entity_type=data["entity_type"],
        entity_key=data["entity_key"],
        attributes=MappingProxyType(attributes),
        valid_from=datetime.fromisoformat(data["valid_from"]),
        valid_to=_time(data["valid_to"]),
        recorded_from=datetime.fromisoformat(data["recorded_from"]),
        recorded_to=_time(data["recorded_to"]),
        actor=data["actor"],
        reason=data["reason"],
        version_id=data["version_id"],
        change_id=data["change_id"],
        retired=bool(data["retired"]),
        derived_from=data["derived_from"],
        activated_at=_time(data["activated_at"]),
    )
    return _Entry(record, until, version)
