"""The load meter: a sliding window per shard and key, exact under threads, bounded however many keys pass."""

from __future__ import annotations

import random
import threading
from collections import Counter
from pathlib import Path

import pytest

from datastrata.core.errors import ValidationError
from datastrata.runtime.scope import Scope
from datastrata.sharding.load import BAND_SLOTS, HeavyHitters, LoadMeter, band_of
from datastrata.sharding.loadstore import flush, read_load
from datastrata.sharding.slots import slot_of
from datastrata.stores.open import open_database

SHARDS = {"s0", "s1", "s2"}


class Clock:
    """A settable wall clock (seconds since the epoch)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _totals(meter: LoadMeter) -> dict[str, tuple[int, int, int]]:
    summed: dict[str, list[int]] = {}
    for view in meter.views(keys=10_000):
        for shard, counts in view.shards.items():
            into = summed.setdefault(shard, [0, 0, 0])
            for i, value in enumerate(counts):
                into[i] += value
    return {shard: (c[0], c[1], c[2]) for shard, c in summed.items()}


def test_the_window_slides_and_old_buckets_go() -> None:
    clock = Clock(1000.0)
    meter = LoadMeter("m", SHARDS, width=1.0, buckets=5, clock=clock)
    meter.record("s0", "a", writes=1, nbytes=10)
    clock.now = 1002.5
    meter.record("s0", "a", reads=1)
    meter.record("s1", "b", writes=1, nbytes=4)
    assert _totals(meter) == {"s0": (1, 1, 10), "s1": (0, 1, 4)}
    clock.now = 1004.9  # bucket 1000 is still the window's oldest (1000..1004)
    assert _totals(meter)["s0"] == (1, 1, 10)
    clock.now = 1005.0  # it slid out
    assert _totals(meter) == {"s0": (1, 0, 0), "s1": (0, 1, 4)}
    clock.now = 1007.6
    assert _totals(meter) == {}
    meter.record("s2", "c", reads=1)  # a new bucket drops the ones out of the window from memory
    assert meter.held() == 1 and _totals(meter) == {"s2": (1, 0, 0)}


def test_reads_and_writes_of_scopes_count_only_keyed_scopes_on_shards() -> None:
    meter = LoadMeter("m", SHARDS, clock=Clock(50.0))
    meter.read("s0", Scope("ledger", "k1"))
    meter.wrote("s0", Scope("ledger", "k1"), 7)
    meter.read("main", Scope("ledger", "k1"))  # the home location is no shard
    meter.wrote("s1", Scope("ledger"), 3)  # a keyless scope has no key to count
    assert _totals(meter) == {"s0": (1, 1, 7)}
    [view] = meter.views(keys=10)
    assert view.keys == {("s0", "k1"): (1, 1, 7, 0)}
    assert view.bands == {("s0", slot_of("k1") // BAND_SLOTS): 2}


def test_counts_per_shard_and_key_are_exact_under_concurrent_threads() -> None:
    meter = LoadMeter("m", SHARDS, capacity=64, clock=Clock(10.0))
    keys = [(f"s{i % 3}", f"key-{i}") for i in range(30)]
    rounds = 2000
    barrier = threading.Barrier(8)

    def work(seed: int) -> None:
        barrier.wait()
        for n in range(rounds):
            shard, key = keys[(seed + n) % len(keys)]
            if n % 3 == 0:
                meter.record(shard, key, writes=1, nbytes=5)
            else:
                meter.record(shard, key, reads=1)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected_keys: Counter[tuple[str, str]] = Counter()
    expected_writes: Counter[str] = Counter()
    expected_reads: Counter[str] = Counter()
    for seed in range(8):
        for n in range(rounds):
            shard, key = keys[(seed + n) % len(keys)]
            expected_keys[(shard, key)] += 1
            (expected_writes if n % 3 == 0 else expected_reads)[shard] += 1
    totals = _totals(meter)
    for shard in SHARDS:
        assert totals[shard] == (expected_reads[shard], expected_writes[shard], 5 * expected_writes[shard])
    [view] = meter.views(keys=1000)
    assert {item: r + w for item, (r, w, _, e) in view.keys.items()} == dict(expected_keys)
    assert all(e == 0 for *_, e in view.keys.values())  # fewer keys than the capacity: exact


def test_memory_stays_bounded_with_100k_distinct_keys_and_the_hot_one_is_found() -> None:
    clock = Clock(0.0)
    meter = LoadMeter("m", SHARDS, width=1.0, buckets=10, capacity=128, clock=clock)
    rng = random.Random(7)
    hot_true = 0
    for n in range(100_000):
        clock.now = n / 5000  # 20 seconds of traffic: the window slides over it
        if rng.random() < 0.05:
            meter.record("s1", "the-hot-one", writes=1)
            hot_true += 1 if clock.now >= 10 else 0
        else:
            meter.record(f"s{n % 3}", f"cold-{n}", reads=1)
    assert meter.held() <= 10
    assert meter.keys_held() <= 10 * 2 * 128
    views = meter.views(keys=5)
    assert all(next(iter(v.keys)) == ("s1", "the-hot-one") for v in views)  # the heaviest in every bucket
    estimate = sum(r + w + e for v in views for (s, k), (r, w, _, e) in v.keys.items() if k == "the-hot-one")
    observed = sum(r + w for v in views for (s, k), (r, w, _, e) in v.keys.items() if k == "the-hot-one")
    assert observed <= hot_true <= estimate


def test_heavy_hitters_never_under_count_and_bound_their_error() -> None:
    rng = random.Random(3)
    summary = HeavyHitters(capacity=16)
    truth: Counter[str] = Counter()
    for _ in range(20_000):
        key = f"k{min(int(rng.paretovariate(1.2)), 500)}"
        truth[key] += 1
        summary.add(("s", key), 1, 0, 0)
    assert len(summary.entries) <= 32
    for (_, key), (reads, _, _, error) in summary.entries.items():
        assert reads <= truth[key] <= reads + error
    top = {key for (_, key), _ in summary.top(5)}
    assert {key for key, _ in truth.most_common(3)} <= top
    for key, count in truth.items():  # every key above the floor is held
        if count > summary.floor:
            assert ("s", key) in summary.entries


def test_meter_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="width"):
        LoadMeter("m", SHARDS, width=0.0)
    with pytest.raises(ValidationError, match="capacity"):
        LoadMeter("m", SHARDS, capacity=1)


def test_two_meters_flushed_to_one_store_add_up(tmp_path: Path) -> None:
    clock = Clock(2000.2)
    db = open_database(f"sqlite:///{tmp_path}/home.db")
    try:
        first, second = (LoadMeter("accounts", SHARDS, clock=clock) for _ in range(2))
        for _ in range(30):
            first.record("s0", "hot", writes=1, nbytes=2)
        for _ in range(20):
            second.record("s0", "hot", reads=1)
            second.record("s2", "other", writes=1)
        assert flush(db, first, "p1") > 0 and flush(db, second, "p2") > 0
        assert flush(db, first, "p1") == 0  # nothing new
        first.record("s0", "hot", writes=1)
        flush(db, first, "p1")  # the current bucket is rewritten, not added twice
        report = read_load(db, "accounts", window=10, clock=clock)
        assert report.processes == 2
        assert (report.shards["s0"].reads, report.shards["s0"].writes, report.shards["s0"].bytes) == (20, 31, 60)
        assert report.keys[0].key == "hot" and report.keys[0].reads + report.keys[0].writes == 51
        assert report.seconds == pytest.approx(9.2)
        clock.now = 2020.0
        assert read_load(db, "accounts", window=10, clock=clock).shards == {}  # out of the window
        with pytest.raises(ValidationError, match="window"):
            read_load(db, "accounts", window=100_000, clock=clock)
    finally:
        db.close()


def test_the_band_of_a_key_is_its_slot_band() -> None:
    keys = [f"user-{i}" for i in range(5000)] + ["é-ü", "x" * 300]
    assert all(band_of(key) == slot_of(key) // BAND_SLOTS for key in keys)
