"""Graph benchmark: food recommendations on LadybugDB vs the same question as SQL self-joins on SQLite and DuckDB.

Builds users, restaurants and orders with realistic skew (Zipf-like restaurant popularity, log-normal user
activity, habitual re-ordering; seeded RNG), then measures on the same data:

- recommendation latency p50/p99 (collaborative filtering, default weighting, with reasons), checking the three
  engines return identical results for every sampled user;
- update throughput from OrderPlaced events: bulk load (COPY path); incremental batches through ``apply_orders``
  the old way (ORDERED properties SET in place, LadybugDB's default 16 MiB auto-checkpoint inside commits) on
  the first third of the incremental events; and the rest through the food system's graph projection (events
  appended to a SQLite event log, then ``GraphProjectionRunner.catch_up`` in pages of ``--catch-up-batch``
  events: each page aggregated per (user, restaurant), the changed edges read-and-deleted in one traversal and
  created again, write-ahead log folded by the runner), against inserting the same events into SQLite and DuckDB
  in batches of ``--batch``.

Then the graph's reads: recommendations per second from 1 and from ``--clients`` concurrent clients (each read on
its own reader connection; with LadybugDB's default of every core per query and with one thread per query), and
recommendation latency from one client while the projection catches up on a backlog, against the same client idle.
Every engine's answers are checked equal: the graph, naive SQL (raw order rows, ``sql_baseline``) and fair SQL (the
aggregated pairs the graph keeps and the same sponsored-first shortcut, ``sql_aggregated``) on SQLite and DuckDB.

Prints JSON to stdout: {"figures": [...], "data": {...}}. ``--quick`` runs a smaller data set in well under a minute.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from datastrata.core.events import NewEvent
from datastrata.eventlog.log import EventLog
from datastrata.graph import sql_aggregated, sql_baseline
from datastrata.graph.food import FOOD_SCHEMA, FoodGraph, OrderPlaced, Restaurant, User
from datastrata.graph.projection import GraphProjectionRunner
from datastrata.graph.recommend import Recommendation, recommend_restaurants
from datastrata.graph.store import GraphStore
from datastrata.runtime import Scope
from datastrata.stores.graphdb import GraphDatabase
from datastrata.stores.open import open_database
from datastrata.systems.food.domain import CONTEXT, ORDER_PLACED, order_key
from datastrata.systems.food.projection import FoodGraphProjection

CUISINES = (
    "Japanese", "Ramen", "Sushi", "Chinese", "Sichuan", "Korean", "Thai", "Indian",
    "Italian", "Pizza", "American", "Burgers", "Mexican", "Steak", "Vegan", "Dessert",
)  # fmt: skip
START = datetime(2025, 1, 1, tzinfo=UTC)


def build_data(
    users: int, restaurants: int, orders: int, seed: int
) -> tuple[list[User], list[Restaurant], list[OrderPlaced]]:
    """Return users, restaurants and orders with Zipf popularity, heavy/light users and habitual re-orders."""
    rng = np.random.default_rng(seed)
    centre_lat, centre_lon = 35.68, 139.76
    rest_list = [
        Restaurant(
            id=f"r{i:05d}",
            name=f"Restaurant {i}",
            lat=float(centre_lat + rng.uniform(-0.2, 0.2)),
            lon=float(centre_lon + rng.uniform(-0.25, 0.25)),
            sponsored=bool(rng.random() < 0.02),
            cuisines=tuple(sorted(set(rng.choice(CUISINES, size=int(rng.integers(1, 3))).tolist()))),
        )
        for i in range(restaurants)
    ]
    user_list = [
        User(f"u{i:06d}", float(centre_lat + rng.uniform(-0.2, 0.2)), float(centre_lon + rng.uniform(-0.25, 0.25)))
        for i in range(users)
    ]
    popularity = 1.0 / np.arange(1, restaurants + 1) ** 0.9  # Zipf-like, s = 0.9
    popularity /= popularity.sum()
    rank_to_restaurant = rng.permutation(restaurants)
    activity = rng.lognormal(0.0, 1.2, users)  # heavy and light users
    activity /= activity.sum()
    who = np.sort(rng.choice(users, size=orders, p=activity))
    fresh = rank_to_restaurant[rng.choice(restaurants, size=orders, p=popularity)]
    reorder = rng.random(orders) < 0.6  # habit: 60% of orders go back to a place the user already ordered from
    pick = rng.random(orders)
    when = rng.uniform(0, 365 * 86400, orders)
    rated = rng.random(orders) < 0.4
    stars = rng.choice([1, 2, 3, 4, 5], size=orders, p=[0.05, 0.05, 0.15, 0.35, 0.40])
    chosen = np.empty(orders, dtype=np.int64)
    start = 0
    while start < orders:
        end = start
        while end < orders and who[end] == who[start]:
            end += 1
        for i in range(start, end):
            k = i - start
            chosen[i] = chosen[start + int(pick[i] * k)] if k and reorder[i] else fresh[i]
        start = end
    order_list = [
        OrderPlaced(
            order_id=f"o{i:07d}",
            user_id=user_list[int(who[i])].id,
            restaurant_id=rest_list[int(chosen[i])].id,
            occurred_at=START + timedelta(seconds=float(when[i])),
            rating=int(stars[i]) if rated[i] else None,
        )
        for i in range(orders)
    ]
    shuffled = rng.permutation(orders)  # events arrive interleaved across users
    return user_list, rest_list, [order_list[int(i)] for i in shuffled]


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Return (seconds, result) of calling `fn`."""
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def load_graph(
    path: Path,
    users: list[User],
    restaurants: list[Restaurant],
    bulk: list[OrderPlaced],
    incremental: list[OrderPlaced],
    batch: int,
    catch_up_batch: int,
) -> tuple[FoodGraph, dict[str, float]]:
    """Load the graph; return it with bulk, old-path incremental and projection throughputs in events/s."""
    graph = FoodGraph.open(path)
    graph.upsert_restaurants(restaurants)
    for i in range(0, len(users), 20_000):
        graph.upsert_users(users[i : i + 20_000])

    def bulk_load() -> None:
        graph.apply_orders(bulk)  # one batch: pairs are aggregated once and new edges go in with one COPY
        graph.checkpoint()

    seconds, _ = timed(bulk_load)
    rates = {"bulk": len(bulk) / seconds}
    third = len(incremental) // 3
    old_path, projected = incremental[:third], incremental[third:]
    graph.update_strategy = "set"  # the previous path: SET in place, auto-checkpoint at 16 MiB inside commits
    seconds, _ = timed(lambda: [graph.apply_orders(old_path[i : i + batch]) for i in range(0, len(old_path), batch)])
    rates["incremental_set"] = len(old_path) / seconds
    graph.update_strategy = "recreate"
    graph.checkpoint()
    rates.update(project(path.parent / "log.db", graph, projected, batch, catch_up_batch))
    return graph, rates


def project(
    log_path: Path, graph: FoodGraph, events: list[OrderPlaced], batch: int, catch_up_batch: int
) -> dict[str, float]:
    """Append `events` to an event log (untimed), then time the food graph projection applying them."""
    log = EventLog(open_database(f"sqlite:///{log_path}?synchronous=NORMAL"))
    append_orders(log, events)
    graph.store.db.disable_auto_checkpoint()  # as the food service opens it: the runner folds the WAL
    runner = GraphProjectionRunner(
        log, FoodGraphProjection(graph), graph.store.db, batch_size=batch, catch_up_batch_size=catch_up_batch
    )
    seconds, _ = timed(runner.catch_up)
    fold_s, _ = timed(runner.run_once)  # the worker's next, idle round folds the write-ahead log
    log.db.close()
    return {"projection": len(events) / seconds, "projection_with_fold": len(events) / (seconds + fold_s)}


def append_orders(log: EventLog, events: list[OrderPlaced]) -> None:
    """Append OrderPlaced events to the log (untimed), 20k per transaction."""
    for start in range(0, len(events), 20_000):
        with log.db.transaction() as tx:
            for e in events[start : start + 20_000]:
                payload = {"order_id": e.order_id, "user_id": e.user_id, "restaurant_id": e.restaurant_id}
                new = NewEvent(ORDER_PLACED, {**payload, "rating": e.rating, "items": []}, occurred_at=e.occurred_at)
                log.append_in(tx, Scope(CONTEXT, order_key(e.order_id)).stream_id, [new], expected_version=0)


def throughput(samples: list[str], fn: Callable[[str], Any], clients: int, calls: int) -> float:
    """Return calls per second of `fn` over `samples` with `clients` threads sharing `calls` calls."""
    work = [samples[i % len(samples)] for i in range(calls)]
    shares = [work[i::clients] for i in range(clients)]
    threads = [threading.Thread(target=lambda share=share: [fn(u) for u in share]) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return calls / (time.perf_counter() - started)


def under_projection(
    log_path: Path, graph: FoodGraph, backlog: list[OrderPlaced], samples: list[str], catch_up_batch: int
) -> tuple[list[float], int]:
    """Latencies (ms) of recommendations from one client while the graph projection catches up on `backlog`."""
    log = EventLog(open_database(f"sqlite:///{log_path}?synchronous=NORMAL"))
    before = log.head()
    append_orders(log, backlog)
    runner = GraphProjectionRunner(
        log, FoodGraphProjection(graph), graph.store.db, catch_up_batch_size=catch_up_batch, checkpoint_every=0
    )
    assert runner.position() <= before
    done = threading.Event()

    def project() -> None:
        try:
            runner.catch_up()
        finally:
            done.set()

    writer = threading.Thread(target=project)
    writer.start()
    latencies: list[float] = []
    while not done.is_set():
        for user in samples:
            seconds, _ = timed(lambda user=user: recommend_restaurants(graph, user))
            latencies.append(seconds * 1000)
            if done.is_set():
                break
    writer.join()
    log.db.close()
    return latencies, len(backlog)


def load_sqlite(
    path: Path, restaurants: list[Restaurant], bulk: list[OrderPlaced], incremental: list[OrderPlaced], batch: int
) -> tuple[sqlite3.Connection, dict[str, float]]:
    """Load SQLite (WAL, synchronous=NORMAL): raw order rows (naive) and aggregated pairs (fair), in events/s."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    sql_baseline.create_schema(conn, "sqlite")
    sql_aggregated.create_schema(conn, "sqlite")
    conn.execute("BEGIN")
    sql_baseline.insert_restaurants(conn, ((r.id, r.sponsored) for r in restaurants))
    conn.execute("COMMIT")

    def insert(events: list[OrderPlaced], size: int) -> None:
        for i in range(0, len(events), size):
            conn.execute("BEGIN")
            sql_baseline.insert_orders(conn, "sqlite", events[i : i + size])
            conn.execute("COMMIT")

    def aggregate(events: list[OrderPlaced], size: int) -> None:
        for i in range(0, len(events), size):
            conn.execute("BEGIN")
            sql_aggregated.apply_orders(conn, "sqlite", events[i : i + size])
            conn.execute("COMMIT")

    rates = _rates(insert, aggregate, bulk, incremental, batch)
    conn.execute("ANALYZE")
    return conn, rates


def _rates(
    insert: Callable[[list[OrderPlaced], int], None],
    aggregate: Callable[[list[OrderPlaced], int], None],
    bulk: list[OrderPlaced],
    incremental: list[OrderPlaced],
    batch: int,
) -> dict[str, float]:
    """Time the naive (rows) and fair (aggregated pairs) loads, bulk in 200k batches then incremental ones."""
    rates = {}
    for name, load in (("naive", insert), ("fair", aggregate)):
        seconds, _ = timed(lambda load=load: load(bulk, 200_000))
        rates[f"{name}_bulk"] = len(bulk) / seconds
        seconds, _ = timed(lambda load=load: load(incremental, batch))
        rates[f"{name}_incremental"] = len(incremental) / seconds
    return rates


def _orders_arrow(events: list[OrderPlaced]) -> pa.Table:
    return pa.table(
        {
            "order_id": [e.order_id for e in events],
            "user_id": [e.user_id for e in events],
            "restaurant_id": [e.restaurant_id for e in events],
            "occurred_at": pa.array([e.occurred_at.replace(tzinfo=None) for e in events], pa.timestamp("us")),
            "rating": pa.array([e.rating for e in events], pa.int32()),
        }
    )


def load_duckdb(
    path: Path, restaurants: list[Restaurant], bulk: list[OrderPlaced], incremental: list[OrderPlaced], batch: int
) -> tuple[Any, dict[str, float]]:
    """Load DuckDB (Arrow batches): raw order rows (naive) and aggregated pairs (fair), in events/s."""
    conn = duckdb.connect(str(path))
    sql_baseline.create_schema(conn, "duckdb")
    sql_aggregated.create_schema(conn, "duckdb")
    rest = pa.table({"id": [r.id for r in restaurants], "sponsored": [r.sponsored for r in restaurants]})
    conn.register("rest_in", rest)
    conn.execute("INSERT INTO restaurants SELECT * FROM rest_in")

    def insert(events: list[OrderPlaced], size: int) -> None:
        for i in range(0, len(events), size):
            conn.register("orders_in", _orders_arrow(events[i : i + size]))
            conn.execute("INSERT INTO orders SELECT * FROM orders_in")
            conn.unregister("orders_in")

    def aggregate(events: list[OrderPlaced], size: int) -> None:
        for i in range(0, len(events), size):
            conn.execute("BEGIN")
            sql_aggregated.apply_orders(conn, "duckdb", events[i : i + size])
            conn.execute("COMMIT")

    return conn, _rates(insert, aggregate, bulk, incremental, batch)


def measure(
    samples: list[str], fn: Callable[[str], list[Recommendation]]
) -> tuple[list[float], dict[str, list[Recommendation]]]:
    """Return latencies (ms) and results of `fn` for every sampled user, after one warm-up call."""
    fn(samples[0])
    latencies, results = [], {}
    for user in samples:
        seconds, result = timed(lambda user=user: fn(user))
        latencies.append(seconds * 1000)
        results[user] = result
    return latencies, results


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data set, finishes in well under a minute")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--restaurants", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200, help="users whose recommendations are timed")
    parser.add_argument("--batch", type=int, default=5000, help="events per incremental graph transaction")
    parser.add_argument(
        "--catch-up-batch", type=int, default=20_000, help="events per graph projection page when catching up"
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients for the throughput figure")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, default=None, help="where to keep the databases (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.restaurants, args.orders, args.samples = 10_000, 1_000, 100_000, 50

    workdir = args.dir or Path(tempfile.mkdtemp(prefix="datastrata-graph-bench-"))
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    t0 = time.perf_counter()
    users, restaurants, orders = build_data(args.users, args.restaurants, args.orders, args.seed)
    generate_s = time.perf_counter() - t0
    split = int(len(orders) * 0.9)
    bulk, incremental = orders[:split], orders[split:]
    print(f"generated {len(orders)} orders in {generate_s:.1f}s", file=sys.stderr)

    graph, g_rates = load_graph(
        workdir / "graph", users, restaurants, bulk, incremental, args.batch, args.catch_up_batch
    )
    print(f"graph loaded: {g_rates}", file=sys.stderr)
    lite, s_rates = load_sqlite(workdir / "orders.sqlite", restaurants, bulk, incremental, args.batch)
    duck, d_rates = load_duckdb(workdir / "orders.duckdb", restaurants, bulk, incremental, args.batch)
    print(f"sql loaded: sqlite {s_rates}, duckdb {d_rates}", file=sys.stderr)

    rng = np.random.default_rng(args.seed + 1)
    active = sorted({o.user_id for o in orders})
    samples = [active[int(i)] for i in rng.choice(len(active), size=min(args.samples, len(active)), replace=False)]
    engines: dict[str, Callable[[str], list[Recommendation]]] = {
        "datastrata": lambda u: recommend_restaurants(graph, u),
        "sqlite": lambda u: sql_baseline.recommend_sql(lite, "sqlite", u),
        "sqlite_fair": lambda u: sql_aggregated.recommend_sql(lite, "sqlite", u),
        "duckdb": lambda u: sql_baseline.recommend_sql(duck, "duckdb", u),
        "duckdb_fair": lambda u: sql_aggregated.recommend_sql(duck, "duckdb", u),
    }
    latencies, results = {}, {}
    for name, fn in engines.items():
        latencies[name], results[name] = measure(samples, fn)
        print(f"measured {name}", file=sys.stderr)
    mismatches = [u for u in samples if len({repr(results[name][u]) for name in engines}) != 1]
    edges = graph.store.rows("MATCH ()-[o:ORDERED]->() RETURN count(o)")[0][0]
    lite.close()
    duck.close()

    # Concurrency: the same calls from 1 client, then from `clients` clients (each read on its own connection).
    calls = max(2 * len(samples), 4 * args.clients)
    one = throughput(samples, engines["datastrata"], 1, calls)
    many = throughput(samples, engines["datastrata"], args.clients, calls)
    # p99 while the projection catches up on a backlog (the incremental orders again, as new orders) vs idle.
    idle_lat, _ = measure(samples, engines["datastrata"])
    again = [OrderPlaced(f"x{o.order_id}", o.user_id, o.restaurant_id, o.occurred_at, o.rating) for o in incremental]
    busy_lat, backlog = under_projection(workdir / "log.db", graph, again, samples, args.catch_up_batch)
    graph.close()
    # The same concurrency figure with one thread per query (LadybugDB's default lets one query use every core).
    single = FoodGraph(GraphStore(GraphDatabase(workdir / "graph", threads=1), FOOD_SCHEMA))
    one_single = throughput(samples, lambda u: recommend_restaurants(single, u), 1, calls)
    many_single = throughput(samples, lambda u: recommend_restaurants(single, u), args.clients, calls)
    single.close()
    if args.dir is None:
        shutil.rmtree(workdir, ignore_errors=True)

    def figure(name: str, unit: str, values: dict[str, float], better: str) -> dict[str, Any]:
        ours = values["datastrata"]
        ratio = (lambda peer: peer / ours) if better == "lower" else (lambda peer: ours / peer)
        row: dict[str, Any] = {"name": name, "unit": unit, "better": better}
        row.update({engine: round(value, 2) for engine, value in values.items()})
        row.update({f"ratio_vs_{engine}": round(ratio(v), 2) for engine, v in values.items() if engine != "datastrata"})
        return row

    def stat(fn: Callable[[list[float]], float]) -> dict[str, float]:
        return {name: fn(values) for name, values in latencies.items()}

    def loads(kind: str, graph_rate: float) -> dict[str, float]:
        rates = {"datastrata": graph_rate}
        for engine, found in (("sqlite", s_rates), ("duckdb", d_rates)):
            rates[engine] = found[f"naive_{kind}"]
            rates[f"{engine}_fair"] = found[f"fair_{kind}"]
        return rates

    report = {
        "figures": [
            figure("recommendation latency p50", "ms", stat(lambda v: percentile(v, 50)), "lower"),
            figure("recommendation latency p99", "ms", stat(lambda v: percentile(v, 99)), "lower"),
            figure("recommendation latency mean", "ms", stat(statistics.fmean), "lower"),
            figure("order events applied, bulk", "events/s", loads("bulk", g_rates["bulk"]), "higher"),
            figure(
                f"order events applied, incremental batches of {args.batch} (old path: SET, 16 MiB auto-checkpoint)",
                "events/s",
                loads("incremental", g_rates["incremental_set"]),
                "higher",
            ),
            figure(
                f"order events through the graph projection, catch-up pages of {args.catch_up_batch} (log -> graph)",
                "events/s",
                loads("incremental", g_rates["projection"]),
                "higher",
            ),
            figure(
                "order events through the graph projection, including the idle fold (CHECKPOINT)",
                "events/s",
                loads("incremental", g_rates["projection_with_fold"]),
                "higher",
            ),
        ],
        "graph_reads": {
            "recommendations_per_s_1_client": round(one, 2),
            f"recommendations_per_s_{args.clients}_clients": round(many, 2),
            "concurrency_ratio": round(many / one, 2),
            "one_thread_per_query_recommendations_per_s_1_client": round(one_single, 2),
            f"one_thread_per_query_recommendations_per_s_{args.clients}_clients": round(many_single, 2),
            "one_thread_per_query_concurrency_ratio": round(many_single / one_single, 2),
            "p99_ms_idle": round(percentile(idle_lat, 99), 2),
            "p99_ms_under_projection": round(percentile(busy_lat, 99), 2),
            "p50_ms_idle": round(percentile(idle_lat, 50), 2),
            "p50_ms_under_projection": round(percentile(busy_lat, 50), 2),
            "p99_ratio_under_projection_vs_idle": round(percentile(busy_lat, 99) / percentile(idle_lat, 99), 2),
            "reads_during_projection": len(busy_lat),
            "projection_backlog_events": backlog,
        },
        "data": {
            "users": args.users,
            "restaurants": args.restaurants,
            "orders": args.orders,
            "ordered_edges": int(edges),
            "sampled_users": len(samples),
            "identical_results": not mismatches,
            "mismatched_users": mismatches[:10],
            "seed": args.seed,
        },
        "goals": {"recommendation_p50_ms": 20, "update_events_per_s": 10_000, "concurrency_ratio": 1.6},
    }
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0 if not mismatches else 1


if __name__ == "__main__":
    raise SystemExit(main())
