"""The commerce services end to end: choreographed orders per second, time to ``CONFIRMED``, the cost of a
compensation, each against the monolith's floor on the same machine in the same run.

- ``throughput``: ``--orders`` choreographed orders placed, then every service's relay and reaction run until all
  are confirmed (each order: place with its catalogue and customer look-ups, reserve, charge, confirm, sell, notify —
  five services' stores, their logs and idempotency keys). Orders per second of the whole batch.
- ``latency``: one order at a time, placed and carried to ``CONFIRMED`` before the next: p50 and p99.
- ``compensation``: the same batch with every payment declined (reserve, decline, cancel, release, refund
  tombstone, notify): orders per second, and its ratio to the confirmed batch.
- ``orchestrated``: the confirmed batch again, driven by the order saga on the saga engine instead (its log at
  home, one record per call): orders per second, and its ratio to the choreographed batch.
- ``monolith_floor``: the same effects for each order in **one** SQLite transaction in one file (raw ``sqlite3``,
  ``synchronous=FULL`` like the services' stores): price, check the customer, hold and sell the stock, charge,
  save the order — what database per service and its events cost against a shared database.

Usage::

    .venv/bin/python benchmarks/commerce.py                       # SQLite, 300 orders, about a minute
    .venv/bin/python benchmarks/commerce.py --orders 100 --pg auto      # PostgreSQL too (a fresh local server)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from datastrata.catalog import migrate
from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.systems.commerce.domain import CHOREOGRAPHED, CONFIRMED, ORCHESTRATED, DeclineRule
from datastrata.systems.commerce.service import CommerceService

SKUS = 20


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _shop(settings: Settings, *, limit: str) -> tuple[Runtime, CommerceService]:
    runtime = Runtime.open(settings)
    svc = CommerceService(runtime, decline=DeclineRule(Decimal(limit)))
    for n in range(SKUS):
        svc.catalogue.add(f"sku-{n}", f"Product {n}", "10.00")
        svc.inventory.set_stock(f"sku-{n}", 1_000_000)
    svc.users.register("mei", "Mei")
    return runtime, svc


def _batch(settings: Settings, orders: int, *, limit: str, prefix: str, style: str = CHOREOGRAPHED) -> dict[str, Any]:
    runtime, svc = _shop(settings, limit=limit)
    try:
        start = time.perf_counter()
        for n in range(orders):
            svc.orders.place("mei", [f"sku-{n % SKUS}:1", f"sku-{(n + 1) % SKUS}:2"], order_id=f"{prefix}-{n}",
                             saga=style)  # fmt: skip
        svc.settle(max_rounds=100_000)
        seconds = time.perf_counter() - start
        ended = {svc.orders.get(f"{prefix}-{n}").status for n in range(orders)}
    finally:
        runtime.close()
    return {"orders": orders, "seconds": round(seconds, 3), "orders_per_s": round(orders / seconds, 1),
            "statuses": sorted(ended)}  # fmt: skip


def _latency(settings: Settings, orders: int) -> dict[str, Any]:
    runtime, svc = _shop(settings, limit="1000000")
    times: list[float] = []
    try:
        for n in range(orders):
            start = time.perf_counter()
            svc.orders.place("mei", [f"sku-{n % SKUS}:1"], order_id=f"lat-{n}", saga=CHOREOGRAPHED)
            svc.settle()
            times.append((time.perf_counter() - start) * 1000)
            assert svc.orders.get(f"lat-{n}").status == CONFIRMED
    finally:
        runtime.close()
    return {
        "orders": orders,
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(_percentile(times, 0.99), 2),
    }


def _monolith(folder: Path, orders: int) -> dict[str, Any]:
    """The same effects of each order in one transaction of one SQLite file (the shared-database peer)."""
    conn = sqlite3.connect(folder / "monolith.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(
        "CREATE TABLE products (sku TEXT PRIMARY KEY, price TEXT NOT NULL);"
        "CREATE TABLE users (user_id TEXT PRIMARY KEY);"
        "CREATE TABLE stock (sku TEXT PRIMARY KEY, on_hand INTEGER NOT NULL CHECK (on_hand >= 0));"
        "CREATE TABLE orders (order_id TEXT PRIMARY KEY, status TEXT NOT NULL, document TEXT NOT NULL);"
        "CREATE TABLE payments (order_id TEXT PRIMARY KEY, amount TEXT NOT NULL);"
        "CREATE TABLE events (position INTEGER PRIMARY KEY, type TEXT NOT NULL, payload TEXT NOT NULL);"
    )
    conn.executemany("INSERT INTO products VALUES (?, '10.00')", [(f"sku-{n}",) for n in range(SKUS)])
    conn.executemany("INSERT INTO stock VALUES (?, 1000000)", [(f"sku-{n}",) for n in range(SKUS)])
    conn.execute("INSERT INTO users VALUES ('mei')")
    start = time.perf_counter()
    for n in range(orders):
        lines = [(f"sku-{n % SKUS}", 1), (f"sku-{(n + 1) % SKUS}", 2)]
        conn.execute("BEGIN IMMEDIATE")
        assert conn.execute("SELECT 1 FROM users WHERE user_id = 'mei'").fetchone()
        total = sum(Decimal(conn.execute("SELECT price FROM products WHERE sku = ?", (s,)).fetchone()[0]) * q
                    for s, q in lines)  # fmt: skip
        for sku, qty in lines:
            conn.execute("UPDATE stock SET on_hand = on_hand - ? WHERE sku = ? AND on_hand >= ?", (qty, sku, qty))
        document = json.dumps({"order_id": f"m-{n}", "lines": lines, "total": str(total)})
        conn.execute("INSERT INTO payments VALUES (?, ?)", (f"m-{n}", str(total)))
        conn.execute("INSERT INTO orders VALUES (?, 'CONFIRMED', ?)", (f"m-{n}", document))
        conn.execute("INSERT INTO events (type, payload) VALUES ('OrderConfirmed', ?)", (document,))
        conn.execute("COMMIT")
    seconds = time.perf_counter() - start
    conn.close()
    return {"orders": orders, "seconds": round(seconds, 3), "orders_per_s": round(orders / seconds, 1)}


def _store(name: str, settings: Settings, orders: int, folder: Path) -> dict[str, Any]:
    confirmed = _batch(settings, orders, limit="1000000", prefix="ok")
    declined = _batch(replace_store(settings, folder, "declined"), orders, limit="1.00", prefix="no")
    latency = _latency(replace_store(settings, folder, "latency"), min(orders, 100))
    orchestrated = _batch(replace_store(settings, folder, "saga"), orders, limit="1000000", prefix="os",
                          style=ORCHESTRATED)  # fmt: skip
    return {
        "store": name,
        "throughput": confirmed,
        "orchestrated": {
            **orchestrated,
            "vs_choreographed": round(orchestrated["orders_per_s"] / confirmed["orders_per_s"], 2),
        },
        "compensation": {**declined, "vs_confirmed": round(declined["orders_per_s"] / confirmed["orders_per_s"], 2)},
        "latency": latency,
    }


def replace_store(settings: Settings, folder: Path, name: str) -> Settings:
    """A fresh store for the next measurement: new SQLite files, or the same PostgreSQL database (other ids)."""
    if settings.store.startswith("sqlite"):
        (folder / name).mkdir(exist_ok=True)
        return Settings.embedded(folder / name)
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument(
        "--pg", help="measure PostgreSQL too: a store URL whose role may create roles, or 'auto' (a fresh server)"
    )
    args = parser.parse_args()
    load_start = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        folder = Path(tmp)
        stores = [_store("sqlite", Settings.embedded(folder / "services"), args.orders, folder)]
        if args.pg:
            url = args.pg
            if url == "auto":
                from datastrata.testing.servers import create_database, ephemeral_postgres

                url = create_database(stack.enter_context(ephemeral_postgres()), "commerce_bench")
                migrate(Settings(store=url))  # the home store, as `datastrata migrate` leaves it
            stores.append(_store("postgresql", Settings(store=url), args.orders, folder))
        floor = _monolith(folder, args.orders)
    for row in stores:
        row["vs_monolith_floor"] = round(row["throughput"]["orders_per_s"] / floor["orders_per_s"], 3)
    result = {
        "benchmark": "commerce",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg_at_start": load_start,
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "monolith_floor": floor,
        "stores": stores,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
