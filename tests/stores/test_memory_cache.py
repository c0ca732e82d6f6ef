"""The in-process cache's bounds: least recently used out, expired entries swept, options from the URL."""

from __future__ import annotations

import sys
import threading

import pytest

from datastrata.core.errors import ConfigurationError
from datastrata.stores.cache import DEFAULT_MAX_ENTRIES, MemoryCache, open_cache


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = MemoryCache(max_entries=3)
    for key in "abc":
        cache.set(key, key)
    assert cache.get("a") == "a"  # a is now the most recently used: b, c, a
    cache.set("d", "d")
    assert [cache.get(k) for k in "bcad"] == [None, "c", "a", "d"]
    # those reads left the order c, a, d (the lookup of b found nothing and changed nothing)
    cache.set("c", "c2")  # writing counts as use too: a, d, c
    cache.set("e", "e")
    assert [cache.get(k) for k in "acde"] == [None, "c2", "d", "e"]
    assert len(cache) == 3 and cache.evictions == 2


def test_max_bytes_bounds_what_values_take() -> None:
    value = "x" * 1000
    per_entry = sys.getsizeof("k00") + sys.getsizeof(value)
    cache = MemoryCache(max_bytes=per_entry * 5)
    for n in range(20):
        cache.set(f"k{n:02d}", value)
    assert len(cache) == 5 and cache.bytes == per_entry * 5
    assert cache.get("k19") == value and cache.get("k14") is None
    cache.set("huge", "y" * per_entry * 6)  # larger than the whole cache: not cached, nothing evicted for it
    assert cache.get("huge") is None and len(cache) == 5
    cache.delete("k19")
    cache.set("k18", "short")
    assert cache.bytes == per_entry * 3 + sys.getsizeof("k18") + sys.getsizeof("short")
    cache.close()
    assert cache.bytes == 0 and len(cache) == 0


def test_an_expired_entry_nobody_reads_is_swept_by_a_later_set() -> None:
    clock = Clock()
    cache = MemoryCache(sweep_interval=60, clock=clock)
    for n in range(100):
        cache.set(f"old{n}", "v", ttl=10)
    cache.set("forever", "v")
    clock.now += 30
    cache.set("young", "v", ttl=100)  # before the sweep interval: the expired ones are still held
    assert len(cache) == 102
    clock.now += 31
    cache.set("trigger", "v")
    assert len(cache) == 3 and cache.expirations == 100
    assert cache.get("forever") == "v" and cache.get("young") == "v"


def test_an_entry_rewritten_with_a_longer_ttl_outlives_its_first_expiry() -> None:
    clock = Clock()
    cache = MemoryCache(sweep_interval=1, clock=clock)
    cache.set("k", "v1", ttl=5)
    cache.set("k", "v2", ttl=50)
    clock.now += 10
    assert cache.sweep() == 0
    assert cache.get("k") == "v2"
    clock.now += 50
    assert cache.sweep() == 1 and len(cache) == 0


def test_rewrites_do_not_grow_the_expiry_index_without_bound() -> None:
    cache = MemoryCache(sweep_interval=3600, clock=Clock())  # no sweep runs: rewrites alone must stay bounded
    for n in range(50_000):
        cache.set(f"k{n % 10}", "v", ttl=3600)
    assert len(cache) == 10 and len(cache._expiries) <= 4 * 10 + 4096


def test_a_sweep_drops_at_most_a_batch_per_set_and_sweep_drops_all() -> None:
    clock = Clock()
    cache = MemoryCache(max_entries=5000, sweep_interval=1, clock=clock)
    for n in range(2500):
        cache.set(f"k{n}", "v", ttl=1)
    clock.now += 2
    cache.set("a", "v")
    assert len(cache) == 2500 - 1000 + 1  # one batch; the next set carries on
    cache.set("b", "v")
    assert len(cache) == 2500 - 2000 + 2
    assert cache.sweep() == 500 and len(cache) == 2


def test_defaults_are_bounded() -> None:
    cache = open_cache("memory://")
    assert isinstance(cache, MemoryCache)
    assert cache.max_entries == DEFAULT_MAX_ENTRIES and cache.max_bytes is None and cache.shared is False


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("memory://?max_entries=5", {"max_entries": 5, "max_bytes": None, "sweep_interval": 60.0}),
        ("memory:///?max_bytes=64MiB&sweep_interval=0.5", {"max_bytes": 64 * 2**20, "sweep_interval": 0.5}),
        ("memory://?max_bytes=2kB", {"max_bytes": 2000}),
        ("memory://?max_bytes=1048576", {"max_bytes": 2**20}),
    ],
)
def test_bounds_come_from_the_url(url: str, expected: dict[str, object]) -> None:
    cache = open_cache(url)
    assert isinstance(cache, MemoryCache)
    assert {k: getattr(cache, k) for k in expected} == expected


@pytest.mark.parametrize(
    ("url", "field", "hint"),
    [
        ("memory://?max_entries=0", "max_entries", "from 1 to"),
        ("memory://?max_entries=-5", "max_entries", "max_entries=10000"),
        ("memory://?max_entries=1e4", "max_entries", "ASCII digits"),
        ("memory://?max_entries=\u0661\u0660", "max_entries", "ASCII digits"),  # Arabic-Indic 10
        ("memory://?max_entries=", "max_entries", "whole number"),
        ("memory://?max_entries=5&max_entries=6", "max_entries", "give it once"),
        ("memory://?max_bytes=64XB", "max_bytes", "max_bytes=64MiB"),
        ("memory://?max_bytes=0", "max_bytes", "from 1 to"),
        ("memory://?sweep_interval=nan", "sweep_interval", "sweep_interval=60"),
        ("memory://?sweep_interval=0", "sweep_interval", "above 0"),
        ("memory://?sweep_interval=100000", "sweep_interval", "at most 86400"),
        ("memory://?max_entrys=5", "max_entrys", "max_bytes, max_entries, sweep_interval"),
        ("memory://somewhere", "cache", "memory://?max_entries=10000"),
        ("redis://localhost:1/0?max_entries=5", "max_entries", "maxmemory-policy allkeys-lru"),
    ],
)
def test_bad_options_are_refused_naming_the_option_and_the_fix(url: str, field: str, hint: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        open_cache(url)
    assert refused.value.field == field
    assert field in str(refused.value) and hint in str(refused.value)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="max_entries"):
        MemoryCache(max_entries=True)
    with pytest.raises(ConfigurationError, match="sweep_interval"):
        MemoryCache(sweep_interval=float("inf"))


def test_concurrent_use_keeps_the_bound_and_raises_nothing() -> None:
    cache = MemoryCache(max_entries=50, max_bytes=50_000, sweep_interval=0.001)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for n in range(5000):
                key = f"k{(n * seed) % 200}"
                cache.set(key, "v" * (n % 300), ttl=0.001 if n % 3 else None)
                cache.get(key)
                if n % 7 == 0:
                    cache.delete(f"k{n % 200}")
        except BaseException as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in (1, 3, 7, 11)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) <= 50 and 0 <= cache.bytes <= 50_000
    assert cache.bytes == sum(sys.getsizeof(k) + sys.getsizeof(v) for k, (v, _) in cache._entries.items())
