"""Routers side by side: balance, key movement when a shard is added, and lookup time per key.

For each router (ring with 4096 and 256 virtual nodes per shard, jump, rendezvous, range cut at the keys'
quantiles) at 100k and 1M keys (``--quick``: 100k only) and 4, 8 and 16 shards:

- ``max_over_mean`` and ``stdev_over_mean`` of the keys per shard (1.0 and 0.0: perfectly even);
- ``moved``: the fraction of keys whose shard changes going from n to n+1 shards, and ``moved_vs_optimum``, that
  fraction over the optimum 1/(n+1) (1.0: minimal movement). Ring, jump and rendezvous add shard ``s<n>``; range
  splits its first range at the median key into the new shard (moving about 1/(2n), unbalanced after);
- ``lookup_ns`` (one ``route`` call a key) and ``batch_ns`` (``route_many``), CPU time per key, best of
  ``--repeats`` over a sample, the routers interleaved in each repeat; ``floor_ns`` is encoding plus xxh3 alone
  in the same rounds, and ``lookup_vs_floor`` the ratio.

Keys are ``user-<i>``. CPU time (``time.process_time``) and best-of-N because the host is shared.

Usage::

    .venv/bin/python benchmarks/sharding.py            # 100k and 1M keys, a few minutes
    .venv/bin/python benchmarks/sharding.py --quick    # 100k keys, under a minute
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence

from datastrata.sharding import JumpRouter, RangeRouter, RendezvousRouter, RingRouter, Router, encode_key
from datastrata.sharding.keys import hash_key

SHARD_COUNTS = (4, 8, 16)
Build = Callable[[Sequence[str], Sequence[str]], Router]


def _names(count: int) -> list[str]:
    return [f"s{index}" for index in range(count)]


def _range_grown(router: RangeRouter, keys: Sequence[str], shard: str) -> RangeRouter:
    inside = sorted((key for key in keys if router.range_of(key) == 0), key=encode_key)
    return router.split(0, inside[len(inside) // 2], to=shard)


ROUTERS: dict[str, Build] = {
    "ring": lambda shards, keys: RingRouter(shards),
    "ring_256_vnodes": lambda shards, keys: RingRouter(shards, vnodes=256),
    "jump": lambda shards, keys: JumpRouter(shards),
    "rendezvous": lambda shards, keys: RendezvousRouter(shards),
    "range": lambda shards, keys: RangeRouter.at_quantiles(shards, keys),
}


def _grown(name: str, router: Router, count: int, keys: Sequence[str]) -> Router:
    if isinstance(router, RangeRouter):
        return _range_grown(router, keys, f"s{count}")
    return ROUTERS[name](_names(count + 1), keys)


def balance(name: str, keys: Sequence[str]) -> list[dict[str, object]]:
    """Return load spread and movement n → n+1 of router `name` over `keys` for each shard count."""
    rows = []
    for count in SHARD_COUNTS:
        router = ROUTERS[name](_names(count), keys)
        before = router.route_many(keys)
        after = _grown(name, router, count, keys).route_many(keys)
        counts = [Counter(before)[shard] for shard in router.shards]
        mean = len(keys) / count
        moved = sum(1 for old, new in zip(before, after, strict=True) if old != new) / len(keys)
        grown_counts = list(Counter(after).values())
        rows.append(
            {
                "shards": count,
                "max_over_mean": round(max(counts) / mean, 4),
                "stdev_over_mean": round(statistics.pstdev(counts) / mean, 4),
                "moved": round(moved, 5),
                "optimum": round(1 / (count + 1), 5),
                "moved_vs_optimum": round(moved * (count + 1), 4),
                "max_over_mean_after": round(max(grown_counts) / (len(keys) / (count + 1)), 4),
            }
        )
    return rows


def _cpu_ns(work: Callable[[], object], items: int) -> float:
    start = time.process_time()
    work()
    return (time.process_time() - start) / items * 1e9


def lookups(sample: Sequence[str], repeats: int) -> dict[str, list[dict[str, object]]]:
    """Return per-key CPU ns of route and route_many for every router and shard count, best of `repeats`."""
    out: dict[str, list[dict[str, object]]] = {name: [] for name in ROUTERS}
    for count in SHARD_COUNTS:
        routers = {name: build(_names(count), sample) for name, build in ROUTERS.items()}
        best: dict[str, list[float]] = {name: [float("inf"), float("inf")] for name in routers}
        floor = float("inf")
        for _ in range(repeats):
            floor = min(floor, _cpu_ns(lambda: [hash_key(key) for key in sample], len(sample)))
            for name, router in routers.items():
                route = router.route
                best[name][0] = min(best[name][0], _cpu_ns(lambda r=route: [r(key) for key in sample], len(sample)))
                best[name][1] = min(best[name][1], _cpu_ns(lambda r=router: r.route_many(sample), len(sample)))
        for name, (single, batch) in best.items():
            out[name].append(
                {
                    "shards": count,
                    "lookup_ns": round(single),
                    "batch_ns": round(batch),
                    "floor_ns": round(floor),
                    "lookup_vs_floor": round(single / floor, 2),
                }
            )
    return out


def main() -> None:
    """Run the measurements and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k keys only, fewer repeats; under a minute")
    parser.add_argument(
        "--repeats", type=int, default=None, help="best of this many lookup rounds (default 7, quick 3)"
    )
    args = parser.parse_args()
    sizes = (100_000,) if args.quick else (100_000, 1_000_000)
    repeats = args.repeats or (3 if args.quick else 7)
    load_start = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    results: dict[str, object] = {}
    for size in sizes:
        keys = [f"user-{index}" for index in range(size)]
        results[f"{size}_keys"] = {name: balance(name, keys) for name in ROUTERS}
    sample = [f"user-{index}" for index in range(20_000)]
    report = {
        "benchmark": "sharding",
        "mode": "quick" if args.quick else "full",
        "balance": results,
        "lookup": lookups(sample, repeats),
        "lookup_sample": len(sample),
        "repeats": repeats,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_start": load_start,
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
            "wall_s": round(time.perf_counter() - started, 1),
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
