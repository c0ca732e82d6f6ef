"""The cache contract, run against the in-process cache and a real Redis server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from datastrata.stores.cache import Cache, open_cache


@pytest.fixture(params=["memory", "redis"])
def cache(request: pytest.FixtureRequest) -> Iterator[Cache]:
    url = "memory://" if request.param == "memory" else str(request.getfixturevalue("redis_url"))
    opened = open_cache(url)
    yield opened
    opened.close()


def test_set_get_delete_and_ttl(cache: Cache) -> None:
    assert cache.get("k") is None
    cache.set("k", "v")
    assert cache.get("k") == "v"
    cache.delete("k")
    assert cache.get("k") is None
    cache.set("short", "v", ttl=0.05)
    assert cache.get("short") == "v"
    time.sleep(0.12)
    assert cache.get("short") is None
    cache.set("gone", "v", ttl=0)
    assert cache.get("gone") is None


def test_concurrent_misses_load_once(cache: Cache) -> None:
    calls: list[int] = []
    barrier = threading.Barrier(8)
    results: list[str | None] = []

    def loader() -> tuple[str | None, float | None]:
        calls.append(1)
        time.sleep(0.1)
        return "loaded", 30.0

    def reader() -> None:
        barrier.wait()
        results.append(cache.get_or_load("hot", loader))

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["loaded"] * 8
    assert len(calls) == 1


def test_a_loader_with_nothing_caches_nothing(cache: Cache) -> None:
    assert cache.get_or_load("absent", lambda: (None, None)) is None
    assert cache.get("absent") is None
