"""Caches: an in-process TTL cache (default) and Redis, both with single-flight loading per key."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from datastrata.core.config import url_scheme
from datastrata.core.errors import BackendUnavailable, ConfigurationError

#: A loader returns the value to cache (None: nothing to cache) and its TTL in seconds (None: no expiry).
Loader = Callable[[], tuple[str | None, float | None]]


class Cache(Protocol):
    """A string-valued cache with TTLs and one loader per key at a time."""

    name: str

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


class MemoryCache:
    """A thread-safe in-process cache; expired entries are dropped when read."""

    name = "memory"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[str, tuple[str, float | None]] = {}
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self._clock = clock
        self.loads = 0

    def get(self, key: str) -> str | None:
        """Return the live value for `key`, or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires is not None and expires <= self._clock():
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            return None
        return value

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        """Store `value` for `ttl` seconds."""
        if ttl is not None and ttl <= 0:
            self.delete(key)
            return
        self._entries[key] = (value, None if ttl is None else self._clock() + ttl)

    def delete(self, *keys: str) -> None:
        """Forget `keys`."""
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

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


class RedisCache:
    """Redis as the cache; a short-lived lock key makes one process the loader of a missing key."""

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
    """Return the cache named by `url`: ``memory://`` or ``redis://host:port/db``."""
    scheme = url_scheme(url, role="cache")
    if scheme == "memory":
        return MemoryCache()
    if scheme in {"redis", "rediss"}:
        return RedisCache(url)
    raise ConfigurationError(f"cache URL scheme {scheme!r} is not supported; use memory:// or redis://host:6379/0")
