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

The scatter section (``--section scatter``) puts ``--rows`` ledger rows on each of 8 shards (SQLite files; with
``--pg`` also PostgreSQL databases on a server it starts) and times ``SELECT SUM(amount)`` over all of them, median
of ``--repeats`` interleaved rounds (wall time): each shard alone (``slowest_single_ms`` is the slowest), the app's
fan-out one shard after another (``serial_ms``) and on 8 threads (``threaded_ms``, with ``threaded_vs_slowest``:
the goal is at most 2), and on PostgreSQL the postgres_fdw coordinator's plain SUM (partitionwise partial
aggregates over async-capable foreign partitions) and the SUM grouped by shard first (pushed down to each shard).

Usage::

    .venv/bin/python benchmarks/sharding.py            # 100k and 1M keys, a few minutes, then the scatter
    .venv/bin/python benchmarks/sharding.py --quick    # 100k keys, under a minute
    .venv/bin/python benchmarks/sharding.py --section scatter --rows 200000 --pg
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
from functools import partial

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
    parser.add_argument("--section", choices=("all", "routers", "scatter"), default="all", help="what to measure")
    parser.add_argument("--rows", type=int, default=None, help="scatter: rows per shard (default 500k, quick 100k)")
    parser.add_argument("--pg", action="store_true", help="scatter: also on PostgreSQL (a server started here)")
    args = parser.parse_args()
    if args.section == "scatter":
        print(
            json.dumps(
                scatter_report(args.rows or (100_000 if args.quick else 500_000), args.pg, args.repeats or 5), indent=2
            )
        )
        return
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
        **({} if args.section == "routers" else {"scatter": _scatter(args)}),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_start": load_start,
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
            "wall_s": round(time.perf_counter() - started, 1),
        },
    }
    print(json.dumps(report, indent=2))


def _scatter(args: argparse.Namespace) -> dict[str, object]:
    return scatter_report(args.rows or (100_000 if args.quick else 500_000), args.pg, args.repeats or 5)


# ---- scatter-gather: one SUM over 8 shards ------------------------------------------------------------------

SCATTER_SHARDS = 8
SUM_SQL = "SELECT SUM(amount) FROM ledger"
PUSHED_SQL = "SELECT SUM(total) FROM (SELECT shard, SUM(amount) AS total FROM ledger GROUP BY shard) AS per_shard"


def scatter_report(rows: int, pg: bool, repeats: int) -> dict[str, object]:
    """The scatter section: SQLite shards always, PostgreSQL shards and the fdw coordinator with `pg`."""
    import tempfile

    from datastrata.core.config import Settings

    report: dict[str, object] = {"shards": SCATTER_SHARDS, "rows_per_shard": rows, "repeats": repeats}
    with tempfile.TemporaryDirectory() as folder:
        report["sqlite"] = _scatter_on(Settings(store=f"sqlite:///{folder}/datastrata.db"), rows, repeats, fdw=False)
    if pg:
        from datastrata.testing.servers import create_database, ephemeral_postgres

        with ephemeral_postgres(fsync=False) as base:
            home = create_database(base, "scatter_home")
            report["postgresql"] = _scatter_on(Settings(store=home), rows, repeats, fdw=True)
    return report


def _scatter_on(settings: object, rows: int, repeats: int, *, fdw: bool) -> dict[str, object]:
    from datastrata.catalog import components
    from datastrata.core.config import Settings
    from datastrata.runtime.location import Location
    from datastrata.sharding.catalog import ShardCatalog, provision_all
    from datastrata.sharding.fdw import Coordinator
    from datastrata.sharding.maps import ShardMaps
    from datastrata.sharding.scatter import merge_sum, scalar, scatter
    from datastrata.stores.migrations import migrate
    from datastrata.stores.open import open_database

    assert isinstance(settings, Settings)
    home = open_database(settings.store)
    migrate(home, components())
    catalog, maps = ShardCatalog(home), ShardMaps(home)
    names = _names(SCATTER_SHARDS)
    provision_all(settings, catalog, "bench", names)
    maps.create("bench", JumpRouter(names))
    specs = catalog.specs("bench")
    for index, spec in enumerate(specs.values()):
        _fill(spec.store, rows, seed=index)
    locations = [Location.open(spec, max_size=2) for spec in specs.values()]
    coordinator = Coordinator(settings, catalog, maps, "bench") if fdw else None
    if coordinator is not None:
        coordinator.build("ledger")

    def work(tx: object) -> object:
        return scalar(tx, SUM_SQL)  # type: ignore[arg-type]

    expected = merge_sum(scatter(locations, work, timeout=600))
    runs: dict[str, Callable[[], object]] = {
        f"single_{loc.name}": partial(scatter, [loc], work, timeout=600) for loc in locations
    }
    runs["serial"] = lambda: scatter(locations, work, timeout=600, threads=1)
    runs["threaded"] = lambda: scatter(locations, work, timeout=600, threads=SCATTER_SHARDS)
    if coordinator is not None:
        runs["fdw_sum"] = lambda: coordinator.sql(SUM_SQL)
        runs["fdw_pushed_sum"] = lambda: coordinator.sql(PUSHED_SQL)
        assert int(coordinator.sql(SUM_SQL)[1][0][0]) == expected == int(coordinator.sql(PUSHED_SQL)[1][0][0])
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            samples[name].append((time.perf_counter() - started) * 1000)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    slowest = max(v for k, v in medians.items() if k.startswith("single_"))
    out: dict[str, object] = {
        "sum": expected,
        "single_ms": {k[len("single_") :]: round(v, 2) for k, v in medians.items() if k.startswith("single_")},
        "slowest_single_ms": round(slowest, 2),
        "serial_ms": round(medians["serial"], 2),
        "threaded_ms": round(medians["threaded"], 2),
        "serial_vs_slowest": round(medians["serial"] / slowest, 2),
        "threaded_vs_slowest": round(medians["threaded"] / slowest, 2),
    }
    if coordinator is not None:
        out |= {
            "fdw_sum_ms": round(medians["fdw_sum"], 2),
            "fdw_pushed_sum_ms": round(medians["fdw_pushed_sum"], 2),
            "fdw_sum_vs_slowest": round(medians["fdw_sum"] / slowest, 2),
            "fdw_pushed_sum_vs_slowest": round(medians["fdw_pushed_sum"] / slowest, 2),
        }
    for location in locations:
        location.close()
    home.close()
    return out


def _fill(store: str, rows: int, *, seed: int) -> None:
    """`rows` ledger rows on one shard (the sharded-table convention: tenant_id, shard_key, shard_slot)."""
    from datastrata.stores.open import open_database

    db = open_database(store)
    with db, db.transaction() as tx:
        tx.run_script(
            "CREATE TABLE ledger (tenant_id TEXT NOT NULL, shard_key TEXT NOT NULL, shard_slot INTEGER NOT NULL, "
            "amount BIGINT NOT NULL)"
        )
        if tx.dialect == "sqlite":
            tx.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                "INSERT INTO ledger SELECT 'default', 'k' || i, (i * 7 + ?) % 16384, i % 1000 FROM n",
                (rows, seed),
            )
        else:
            tx.execute(
                "INSERT INTO ledger SELECT 'default', 'k' || i, (i * 7 + ?) % 16384, i % 1000 "
                "FROM generate_series(1, ?) AS i",
                (seed, rows),
            )
        if tx.dialect == "postgresql":
            tx.execute("ANALYZE ledger")


if __name__ == "__main__":
    main()
