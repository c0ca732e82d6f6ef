"""Caches: an in-process TTL cache (default) and Redis, both with single-flight loading per key."""

from __future__ import annotations

import heapq
import re
import sys
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from datastrata.core.config import url_scheme
from datastrata.core.errors import BackendUnavailable, ConfigurationError

#: A loader returns the value to cache (None: nothing to cache) and its TTL in seconds (None: no expiry).
Loader = Callable[[], tuple[str | None, float | None]]


class Cache(Protocol):
    """A string-valued cache with TTLs and one loader per key at a time."""

    name: str
    #: True when every process sees the same entries (so one process's invalidation reaches the others).
    shared: bool

    def get(self, key: str) -> str | None:
        """Return the cached value, or None."""

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        """Store `value`, expiring after `ttl` seconds (never when None)."""

    def delete(self, *keys: str) -> None:
        """Forget `keys`."""

    def get_or_load(self, key: str, loader: Loader) -> str | None:
        """Return the cached value; on a miss run `loader` once (other callers wait) and cache its result."""

    def close(self) -> None:
        """Release connections."""


def _fill(cache: MemoryCache | RedisCache, key: str, loader: Loader) -> str | None:
    """Holding the key's load lock: look again (the previous holder may have filled it), else load and cache."""
    value = cache.get(key)
    if value is not None:
        return value
    cache.loads += 1
    value, ttl = loader()
    if value is not None:
        cache.set(key, value, ttl=ttl)
    return value


#: Most entries an in-process cache holds by default; the least recently used go first beyond it.
DEFAULT_MAX_ENTRIES = 10_000
#: Seconds between sweeps of expired entries (a sweep runs inside a `set`, at most this often).
DEFAULT_SWEEP_INTERVAL = 60.0
#: Most expired entries one sweep drops, so a `set` never pauses long; the rest go at the next `set`.
_SWEEP_BATCH = 1000
_MAX_ENTRIES_LIMIT = 100_000_000
_SIZE_UNITS = {"": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
_Entry = tuple[str, float | None]


class MemoryCache:
    """A thread-safe in-process cache bounded by entries (and optionally bytes), least recently used out.

    Expired entries are dropped when read and swept every `sweep_interval` seconds by the next `set`, so an entry
    nobody reads again does not stay. `max_bytes` counts the key's and value's string objects (``sys.getsizeof``),
    not the dictionary around them. Reads take no lock: each step is one atomic operation on the dictionary.
    """

    name = "memory"
    #: An invalidation here reaches this process only (see :attr:`RedisCache.shared`).
    shared = False

    def __init__(
        self,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int | None = None,
        sweep_interval: float = DEFAULT_SWEEP_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = _check_int(max_entries, "max_entries", 1, _MAX_ENTRIES_LIMIT)
        self.max_bytes = None if max_bytes is None else _check_int(max_bytes, "max_bytes", 1, 2**62)
        self.sweep_interval = _check_interval(sweep_interval)
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lookup = self._entries.get  # bound once: a hit is a handful of attribute loads
        self._touch = self._entries.move_to_end
        self._expiries: list[tuple[float, str]] = []  # a heap; items whose entry changed are skipped when popped
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self._clock = clock
        self._next_sweep = clock() + self.sweep_interval
        self.bytes = 0
        self.loads = 0
        self.evictions = 0
        self.expirations = 0

    def __len__(self) -> int:
        """Return how many entries are held (expired ones not yet swept included)."""
        return len(self._entries)

    def get(self, key: str) -> str | None:
        """Return the live value for `key` (marking it most recently used), or None."""
        entry = self._lookup(key)
        if entry is None:
            return None
        expires = entry[1]
        if expires is not None and expires <= self._clock():
            with self._lock:
                if self._entries.get(key) is entry:
                    self._remove(key, entry)
                    self.expirations += 1
            return None
        try:  # noqa: SIM105 - contextlib.suppress would double the cost of a hit
            self._touch(key)
        except KeyError:  # deleted by another thread since the lookup
            pass
        return entry[0]

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        """Store `value` for `ttl` seconds, evicting the least recently used entries beyond the bounds."""
        if ttl is not None and not ttl > 0:  # NaN too: it would never expire and would break the expiry heap
            self.delete(key)
            return
        now = self._clock()
        expires = None if ttl is None else now + ttl
        entries, limit = self._entries, self.max_bytes
        with self._lock:
            if limit is not None:
                old = entries.get(key)
                if old is not None:
                    self._remove(key, old)
                size = sys.getsizeof(key) + sys.getsizeof(value)
                if size > limit:
                    return  # larger than the whole cache: not cached
                self.bytes += size
            entries[key] = (value, expires)
            self._touch(key)
            if expires is not None:
                heap = self._expiries
                heapq.heappush(heap, (expires, key))
                if len(heap) > 4 * len(entries) + 4096:  # rewritten and deleted keys leave stale items behind
                    self._compact()
            if len(entries) > self.max_entries or (limit is not None and self.bytes > limit):
                self._evict(limit)
            if now >= self._next_sweep:
                self._sweep(now)

    def delete(self, *keys: str) -> None:
        """Forget `keys`."""
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is not None:
                    self._remove(key, entry)

    def sweep(self) -> int:
        """Drop every expired entry now; return how many were dropped."""
        dropped = 0
        with self._lock:
            while True:
                batch = self._sweep(self._clock())
                dropped += batch
                if batch < _SWEEP_BATCH:
                    return dropped

    def get_or_load(self, key: str, loader: Loader) -> str | None:
        """Single-flight: the first caller on a miss loads, the others wait for its result."""
        value = self.get(key)
        if value is not None:
            return value
        with self._lock:
            key_lock = self._loading.setdefault(key, threading.Lock())
        try:
            with key_lock:
                return _fill(self, key, loader)
        finally:
            with self._lock:
                if self._loading.get(key) is key_lock and not key_lock.locked():
                    del self._loading[key]

    def close(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
            self._expiries.clear()
            self.bytes = 0

    def _remove(self, key: str, entry: _Entry) -> None:
        """Drop `key`, holding the lock."""
        del self._entries[key]
        self._forget_size(key, entry)

    def _forget_size(self, key: str, entry: _Entry) -> None:
        if self.max_bytes is not None:
            self.bytes -= sys.getsizeof(key) + sys.getsizeof(entry[0])

    def _evict(self, limit: int | None) -> None:
        """Holding the lock: drop least recently used entries until both bounds hold."""
        entries = self._entries
        while len(entries) > self.max_entries or (limit is not None and self.bytes > limit):
            evicted, entry = entries.popitem(last=False)
            self._forget_size(evicted, entry)
            self.evictions += 1

    def _compact(self) -> None:
        """Holding the lock: rebuild the expiry heap from the live entries (amortised O(1) per `set`)."""
        self._expiries = [(e, k) for k, (_, e) in self._entries.items() if e is not None]
        heapq.heapify(self._expiries)

    def _sweep(self, now: float) -> int:
        """Holding the lock: drop up to a batch of expired entries; return how many went."""
        heap, entries, dropped = self._expiries, self._entries, 0
        while heap and heap[0][0] <= now and dropped < _SWEEP_BATCH:
            expires, key = heapq.heappop(heap)
            entry = entries.get(key)
            if entry is not None and entry[1] == expires:
                self._remove(key, entry)
                dropped += 1
        self.expirations += dropped
        if len(heap) > 4 * len(entries) + 4096:
            self._compact()
        heap = self._expiries  # compacting may have replaced it
        self._next_sweep = now if heap and heap[0][0] <= now else now + self.sweep_interval
        return dropped


def _check_int(value: object, field: str, low: int, high: int) -> int:
    """Refuse a non-integer (or a bool) outside [low, high], naming the setting."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(f"{field} must be a whole number from {low} to {high}; got {value!r}", field=field)
    return value


def _check_interval(value: object) -> float:
    """Refuse a sweep interval that is not a finite number of seconds in (0, 86400]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86400:
        raise ConfigurationError(
            f"sweep_interval must be a number of seconds above 0 and at most 86400; got {value!r}",
            field="sweep_interval",
        )
    return float(value)


class RedisCache:
    """Redis as the cache; a short-lived lock key makes one process the loader of a missing key."""

    #: Every process using the same Redis sees the same entries and invalidations.
    shared = True

    def __init__(self, url: str, *, prefix: str = "datastrata:cache:", lock_ttl: float = 5.0) -> None:
        try:
            import redis
        except ImportError as exc:  # pragma: no cover - depends on installed extras
            raise BackendUnavailable("the Redis cache needs redis-py: pip install 'datastrata[redis]'") from exc
        self.name = url
        self.prefix = prefix
        self.lock_ttl = lock_ttl
        self.client: Any = redis.Redis.from_url(url, decode_responses=True)
        self._errors: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError)
        self.loads = 0
        try:
            self.client.ping()
        except self._errors as exc:
            raise BackendUnavailable(f"cannot reach Redis at {url}: {exc}; check the URL and that it runs") from exc

    def get(self, key: str) -> str | None:
        """GET the key."""
        try:
            value: str | None = self.client.get(self.prefix + key)
        except self._errors as exc:
            raise BackendUnavailable(f"Redis cache at {self.name} failed: {exc}") from exc
        return value

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        """SET the key with a millisecond TTL."""
        if ttl is not None and ttl <= 0:
            self.delete(key)
            return
        px = None if ttl is None else max(int(ttl * 1000), 1)
        try:
            self.client.set(self.prefix + key, value, px=px)
        except self._errors as exc:
            raise BackendUnavailable(f"Redis cache at {self.name} failed: {exc}") from exc

    def delete(self, *keys: str) -> None:
        """DEL the keys."""
        if keys:
            try:
                self.client.delete(*(self.prefix + k for k in keys))
            except self._errors as exc:
                raise BackendUnavailable(f"Redis cache at {self.name} failed: {exc}") from exc

    def get_or_load(self, key: str, loader: Loader) -> str | None:
        """On a miss, the process that wins ``SET NX`` on the lock key loads; the others poll briefly."""
        value = self.get(key)
        if value is not None:
            return value
        lock_key, token = f"{self.prefix}lock:{key}", uuid.uuid4().hex
        deadline = time.monotonic() + self.lock_ttl
        while not self.client.set(lock_key, token, nx=True, px=int(self.lock_ttl * 1000)):
            time.sleep(0.002)
            value = self.get(key)
            if value is not None:
                return value
            if time.monotonic() > deadline:
                break  # the loader died; load ourselves rather than wait forever
        try:
            return _fill(self, key, loader)
        finally:
            if self.client.get(lock_key) == token:
                self.client.delete(lock_key)

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


def open_cache(url: str) -> Cache:
    """Return the cache named by `url`: ``memory://[?max_entries=N&max_bytes=64MiB&sweep_interval=S]`` or Redis."""
    scheme = url_scheme(url, role="cache")
    if scheme == "memory":
        return MemoryCache(**memory_options(url))
    if scheme in {"redis", "rediss"}:
        options = set(parse_qs(urlsplit(url).query, keep_blank_values=True)) & _MEMORY_OPTIONS
        if options:
            raise ConfigurationError(
                f"cache URL option {sorted(options)[0]!r} applies to memory:// only; Redis bounds its own memory: "
                "set maxmemory and maxmemory-policy allkeys-lru on the server",
                field=sorted(options)[0],
            )
        return RedisCache(url)
    raise ConfigurationError(f"cache URL scheme {scheme!r} is not supported; use memory:// or redis://host:6379/0")


_MEMORY_OPTIONS = {"max_entries", "max_bytes", "sweep_interval"}


def memory_options(url: str) -> dict[str, Any]:
    """Parse the bounds of a ``memory://`` cache URL, refusing unknown, repeated or malformed options."""
    parts = urlsplit(url)
    if parts.netloc or parts.path not in {"", "/"}:
        raise ConfigurationError(
            f"cache URL {url!r} names a host or path; an in-process cache has none: use memory://?max_entries=10000",
            field="cache",
        )
    options: dict[str, Any] = {}
    for name, values in parse_qs(parts.query, keep_blank_values=True).items():
        if name not in _MEMORY_OPTIONS:
            raise ConfigurationError(
                f"cache URL option {name!r} is unknown; memory:// takes {', '.join(sorted(_MEMORY_OPTIONS))}",
                field=name,
            )
        if len(values) > 1:
            raise ConfigurationError(
                f"cache URL option {name!r} is given {len(values)} times; give it once", field=name
            )
        text = values[0].strip()
        if name == "max_entries":
            if not re.fullmatch(r"[0-9]{1,12}", text):
                raise ConfigurationError(
                    f"max_entries must be a whole number of entries (ASCII digits), e.g. max_entries=10000; "
                    f"got {values[0]!r}",
                    field=name,
                )
            options[name] = int(text)
        elif name == "max_bytes":
            options[name] = _parse_size(values[0])
        else:
            if not re.fullmatch(r"[0-9]{1,6}(\.[0-9]{1,6})?", text):
                raise ConfigurationError(
                    f"sweep_interval must be a number of seconds (ASCII digits), e.g. sweep_interval=60; "
                    f"got {values[0]!r}",
                    field=name,
                )
            options[name] = float(text)
    return options


def _parse_size(raw: str) -> int:
    """Parse ``67108864``, ``64MiB`` or ``64MB`` into bytes."""
    match = re.fullmatch(r"([0-9]{1,15})\s*([a-z]*)", raw.strip().lower())
    if match is None or match.group(2) not in _SIZE_UNITS:
        raise ConfigurationError(
            f"max_bytes must be a whole number of bytes, optionally with a unit (kB, MB, GB, KiB, MiB, GiB), "
            f"e.g. max_bytes=64MiB; got {raw!r}",
            field="max_bytes",
        )
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]
