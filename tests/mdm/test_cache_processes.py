"""The cache-aside promise across processes: a put another process made is read at once, on every configuration.

Process A (this test) caches a record; process B (a real subprocess) puts a new version and exits; A's next read
returns the new value. Over the in-process cache that holds because every hit is checked against the store's
revision; over Redis because B's invalidation reaches the shared cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from datastrata.core.config import Settings
from datastrata.mdm import MasterDataStore
from datastrata.mdm.cache import CachedReader
from datastrata.runtime import Runtime
from datastrata.stores.cache import Cache, MemoryCache, RedisCache, open_cache
from datastrata.systems.masterdata.service import MasterDataService

_WRITER = """
import sys
from datastrata.mdm import MasterDataStore
from datastrata.mdm.cache import CachedReader
from datastrata.stores.cache import open_cache

store_url, cache_url, name = sys.argv[1:4]
store = MasterDataStore.open(store_url)
reader = CachedReader(store, open_cache(cache_url))  # a writer invalidates the cache it is configured with
store.put("customer", "C1", {"name": name}, actor="process-b")
reader.close()
store.close()
"""


def run(*args: str, env: dict[str, str] | None = None) -> None:
    """Run a Python subprocess to completion, failing the test with its output when it fails."""
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, env=env, cwd=Path(__file__).parent
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(params=["memory", "redis"])
def cache_url(request: pytest.FixtureRequest) -> str:
    """The in-process cache, and Redis."""
    return "memory://" if request.param == "memory" else str(request.getfixturevalue("redis_url"))


@pytest.fixture
def cache(cache_url: str) -> Iterator[Cache]:
    """Process A's cache."""
    opened = open_cache(cache_url)
    yield opened
    opened.close()


def test_a_put_by_another_process_is_read_at_once(store_url: str, cache_url: str, cache: Cache) -> None:
    with MasterDataStore.open(store_url) as store:
        reader = CachedReader(store, cache)
        assert reader.checks_versions is isinstance(cache, MemoryCache)
        store.put("customer", "C1", {"name": "Alice"}, actor="process-a")
        assert reader.get("customer", "C1").attributes["name"] == "Alice"  # type: ignore[union-attr]
        assert reader.get("customer", "C1").attributes["name"] == "Alice"  # type: ignore[union-attr]
        assert reader.loads == 1  # the second read was a hit
        run("-c", _WRITER, store_url, cache_url, "Alicia")
        assert reader.get("customer", "C1").attributes["name"] == "Alicia"  # type: ignore[union-attr]
        assert reader.get("customer", "C1").attributes["name"] == "Alicia"  # type: ignore[union-attr]
        assert reader.loads == 2  # one reload, then hits again
        reader.close()


def test_absence_cached_by_one_process_ends_with_another_process_put(store_url: str) -> None:
    with MasterDataStore.open(store_url) as store:
        reader = CachedReader(store, MemoryCache())
        assert reader.get("customer", "C1") is None
        assert reader.get("customer", "C1") is None
        run("-c", _WRITER, store_url, "memory://", "Bob")
        assert reader.get("customer", "C1").attributes["name"] == "Bob"  # type: ignore[union-attr]
        reader.close()


def test_serve_and_the_cli_on_one_sqlite_file(sqlite_url: str) -> None:
    """The default: a long-running process (as `serve`) with the in-process cache, and a CLI put beside it."""
    runtime = Runtime.open(Settings(store=sqlite_url))
    try:
        svc: MasterDataService = runtime.service("masterdata", MasterDataService)
        svc.put("customer", "C1", {"name": "Alice"}, actor="serve")
        assert svc.get("customer", "C1").attributes["name"] == "Alice"
        assert svc.get("customer", "C1").attributes["name"] == "Alice"
        env = {**os.environ, "DATASTRATA_STORE": sqlite_url, "DATASTRATA_CACHE": "memory://"}
        run("-m", "datastrata", "masterdata", "put", "customer", "C1", "--set", "name=Alicia", "--actor", "cli",
            "--no-sync", env=env)  # fmt: skip
        assert svc.get("customer", "C1").attributes["name"] == "Alicia"
    finally:
        runtime.close()


def test_over_redis_hits_are_not_version_checked(redis_url: str, sqlite_url: str) -> None:
    redis_cache = RedisCache(redis_url)
    with MasterDataStore.open(sqlite_url) as store:
        reader = CachedReader(store, redis_cache)
        assert reader.checks_versions is False  # every writer's invalidation reaches the shared cache
        reader.close()
    redis_cache.close()
