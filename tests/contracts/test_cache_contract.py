"""The cache contract, run against the in-process cache and a real Redis server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from datastrata.stores.cache import Cache, MemoryCache, open_cache


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


@pytest.fixture(params=["memory", "redis"])
def bounded(request: pytest.FixtureRequest) -> Iterator[Cache]:
    """A cache bounded to far less than the test writes: by the URL in-process, by maxmemory in Redis."""
    if request.param == "memory":
        opened = open_cache("memory://?max_entries=200&sweep_interval=0.02")
        yield opened
        opened.close()
        return
    opened = open_cache(str(request.getfixturevalue("redis_url")))
    client = opened.client  # type: ignore[attr-defined]
    saved = {k: client.config_get(k)[k] for k in ("maxmemory", "maxmemory-policy")}
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.config_set("maxmemory", int(client.info("memory")["used_memory"]) + 300_000)
    try:
        yield opened
    finally:
        client.flushall()
        for key, value in saved.items():
            client.config_set(key, value)
        opened.close()


def held(cache: Cache) -> int:
    """How many entries the backend holds, read or not."""
    return len(cache) if isinstance(cache, MemoryCache) else int(cache.client.dbsize())  # type: ignore[attr-defined]


def test_writing_past_the_bound_drops_the_least_recently_used(bounded: Cache) -> None:
    bounded.set("hot", "h")
    for n in range(2000):
        bounded.set(f"cold:{n}", "x" * 1000, ttl=600)
        # Read all along, so never the least recently used. Redis approximates LRU with a clock of one-second
        # resolution: within a second every key ties, so only the in-process cache can promise the order.
        assert bounded.get("hot") == "h" or not isinstance(bounded, MemoryCache)
    assert held(bounded) < 1000
    if isinstance(bounded, MemoryCache):  # Redis evicts by sampling: the oldest key is likely, not certain, to go
        assert bounded.get("cold:0") is None
        assert bounded.get("cold:1999") is not None


def test_an_expired_entry_nobody_reads_is_dropped(bounded: Cache) -> None:
    for n in range(50):
        bounded.set(f"brief:{n}", "x", ttl=0.05)
    bounded.set("kept", "x", ttl=600)
    deadline = time.monotonic() + 10
    while held(bounded) > 1 and time.monotonic() < deadline:  # waits for the sweep; asserts no duration
        time.sleep(0.05)
        bounded.set("kept", "x", ttl=600)  # the in-process cache sweeps inside a set
    assert held(bounded) == 1 and bounded.get("kept") == "x"
