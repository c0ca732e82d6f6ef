"""Cache-aside reads: hits, one load per miss, invalidation after commit, TTLs capped by the next change."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.mdm import MasterDataStore
from datastrata.mdm.cache import CachedReader, LocalFence, RedisFence
from datastrata.stores.cache import Cache, MemoryCache, RedisCache
from tests.mdm.conftest import START

DAY = timedelta(days=1)


@pytest.fixture(params=["memory", "redis"])
def cache(request: pytest.FixtureRequest) -> Iterator[Cache]:
    """The in-process cache, and Redis."""
    if request.param == "memory":
        yield MemoryCache()
        return
    redis_cache = RedisCache(str(request.getfixturevalue("redis_url")))
    yield redis_cache
    redis_cache.close()


@pytest.fixture
def reader(store: MasterDataStore, cache: Cache) -> Iterator[CachedReader]:
    """A cache-aside reader over the store."""
    cached = CachedReader(store, cache)
    yield cached
    cached.close()


def name(reader: CachedReader, key: str = "C1") -> Any:
    record = reader.get("customer", key)
    return None if record is None else record.attributes["name"]


def test_a_miss_loads_once_then_hits(reader: CachedReader, store: MasterDataStore) -> None:
    store.put("customer", "C1", {"name": "Alice"}, valid_from=START - DAY, actor="a")
    assert name(reader) == "Alice"
    assert name(reader) == "Alice"
    assert reader.loads == 1
    assert reader.get("customer", "ghost") is None  # absence is cached too
    assert reader.get("customer", "ghost") is None
    assert reader.loads == 2


def test_a_put_invalidates_after_commit(reader: CachedReader, store: MasterDataStore) -> None:
    store.put("customer", "C1", {"name": "Alice"}, valid_from=START - DAY, actor="a")
    assert name(reader) == "Alice"
    store.put("customer", "C1", {"name": "Alicia"}, actor="a")
    assert name(reader) == "Alicia"
    store.retire("customer", "C1", actor="a")
    assert reader.get("customer", "C1") is None
    assert reader.loads == 3


def test_an_entry_never_outlives_the_next_scheduled_change(
    reader: CachedReader, store: MasterDataStore, clock: FrozenClock
) -> None:
    store.put("customer", "C1", {"name": "Alice"}, valid_from=START - DAY, actor="a")
    store.put("customer", "C1", {"name": "Alicia"}, valid_from=START + DAY, actor="a")
    assert name(reader) == "Alice"
    clock.set(START + DAY - timedelta(microseconds=1))
    assert name(reader) == "Alice"
    assert reader.loads == 1
    clock.set(START + DAY)  # no write, no activation: the entry ends at the scheduled change by itself
    assert name(reader) == "Alicia"
    assert reader.loads == 2


def test_the_ttl_is_capped_at_the_next_change(store: MasterDataStore) -> None:
    memory = MemoryCache()
    reader = CachedReader(store, memory, ttl=300)
    now = store.clock()
    store.put("customer", "C1", {"name": "Alice"}, valid_from=now - DAY, valid_to=now + timedelta(seconds=2), actor="a")
    store.put("customer", "C2", {"name": "Bob"}, valid_from=now - DAY, actor="a")
    reader.get("customer", "C1")
    reader.get("customer", "C2")
    expiry = {key: exp for key, (_, exp) in memory._entries.items()}
    ttl1 = expiry[reader.cache_key("customer", "C1")]
    ttl2 = expiry[reader.cache_key("customer", "C2")]
    assert ttl1 is not None and ttl2 is not None
    assert ttl1 - time.monotonic() <= 2.0 < ttl2 - time.monotonic() <= 300.0


def test_time_travel_reads_go_to_the_store(reader: CachedReader, store: MasterDataStore, clock: FrozenClock) -> None:
    change = store.put("customer", "C1", {"name": "Alice"}, valid_from=START - DAY, actor="a")
    clock.advance(timedelta(seconds=1))
    store.put("customer", "C1", {"name": "Alicia"}, valid_from=START - DAY / 2, actor="a")
    assert reader.get("customer", "C1", as_of=START - DAY * 3 / 4).attributes["name"] == "Alice"  # type: ignore[union-attr]
    known = reader.get("customer", "C1", as_known_at=change.recorded_at)
    assert known is not None and known.attributes["name"] == "Alice"
    assert reader.loads == 0


def test_concurrent_readers_during_a_miss_cause_exactly_one_load(reader: CachedReader, store: MasterDataStore) -> None:
    store.put("customer", "C1", {"name": "Alice"}, valid_from=START - DAY, actor="a")
    slow_get = store.get

    def get(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.05)  # hold the miss open while the others arrive
        return slow_get(*args, **kwargs)

    store.get = get  # type: ignore[method-assign]
    barrier = threading.Barrier(8)
    seen: list[Any] = []

    def read() -> None:
        barrier.wait()
        seen.append(name(reader))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == ["Alice"] * 8
    assert reader.loads == 1


def test_a_load_racing_a_write_never_caches_the_older_value(reader: CachedReader, store: MasterDataStore) -> None:
    """The classic race: the loader reads the old value, the write commits and invalidates, the loader fills."""
    store.put("customer", "C1", {"name": "Alice"}, valid_from=START - DAY, actor="a")
    read_old, write_done = threading.Event(), threading.Event()
    real_next_change = store.next_change

    def next_change(*args: Any, **kwargs: Any) -> Any:
        if not read_old.is_set():
            read_old.set()  # the loader has read "Alice" from the store
            write_done.wait(5)  # ... and fills only after the write below has committed and returned
        return real_next_change(*args, **kwargs)

    store.next_change = next_change  # type: ignore[method-assign]
    loader = threading.Thread(target=lambda: reader.get("customer", "C1"))
    loader.start()
    assert read_old.wait(5)
    store.put("customer", "C1", {"name": "Alicia"}, actor="a")
    write_done.set()
    loader.join()
    assert name(reader) == "Alicia"


def test_readers_never_see_a_value_older_than_a_returned_put(reader: CachedReader, store: MasterDataStore) -> None:
    store.put("customer", "C1", {"name": "0"}, valid_from=START - DAY, actor="a")
    stop = threading.Event()
    errors: list[str] = []
    committed = [0]

    def hammer() -> None:
        while not stop.is_set():
            floor = committed[0]
            seen = int(name(reader))
            if seen < floor:
                errors.append(f"saw {seen} after put {floor} returned")
            time.sleep(0.0002)  # leave the writer some of the GIL

    readers = [threading.Thread(target=hammer) for _ in range(3)]
    for t in readers:
        t.start()
    try:
        for n in range(1, 21):
            store.put("customer", "C1", {"name": str(n)}, actor="a")
            committed[0] = n
            assert int(name(reader)) >= n
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert errors == []


def test_fences_refuse_a_fill_after_an_invalidation(redis_url: str) -> None:
    redis_cache = RedisCache(redis_url)
    for fence in (LocalFence(MemoryCache()), RedisFence(redis_cache)):
        token = fence.token("k")
        fence.invalidate("k")
        assert fence.fill("k", token, "old", 10) is False
        assert fence.fill("k", fence.token("k"), "new", 10) is True
        assert fence.cache.get("k") == "new"
    redis_cache.close()


def test_local_fence_memory_is_fixed_however_many_keys_are_written() -> None:
    fence = LocalFence(MemoryCache(), stripes=8)
    for n in range(10_000):
        fence.invalidate(f"customer:{n}")
    assert len(fence._generations) == 8 and sum(fence._generations) == 10_000
    token = fence.token("customer:42")
    assert fence.fill("customer:42", token, "v", 10) is True
    fence.invalidate("customer:42")
    assert fence.fill("customer:42", token, "stale", 10) is False
