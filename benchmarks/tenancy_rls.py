"""Row-level security's cost, and server connections with many tenants: PostgreSQL, the same commands side by side.

One PostgreSQL server (fsync off: the figures are the protocol and the policies, not the disk) holds two databases
migrated alike:

- ``single``: the single-tenant store — the owner runs the commands, no roles, no row-level security;
- ``rls``: the application role under row-level security (each transaction binds its tenant with its BEGIN), the
  followers on the platform role.

In alternating rounds each runs the same ``portfolio deposit`` commands, rotating over three tenants (one portfolio
per tenant and slot, so streams stay short); reported: the median commands/s of each, and rls/single (the goal is
at least 0.9).

Then 1,000 tenants share the ``rls`` store: T threads each send commands for random tenants, once straight to the
server and once through PgBouncer (transaction pooling, ``default_pool_size`` P). The peak number of the
application role's server connections (``pg_stat_activity``, sampled through the run) is reported beside the pool
sizes: it is bounded by the pool, never by the tenant count.

Usage::

    .venv/bin/python benchmarks/tenancy_rls.py            # 7 rounds of 500 commands; 1,000 tenants x 4,000
    .venv/bin/python benchmarks/tenancy_rls.py --quick    # 3 rounds of 200 commands; 1,000 tenants x 1,000
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time
from collections.abc import Callable

import psycopg

from datastrata.catalog import migrate
from datastrata.core.config import Settings
from datastrata.core.tenancy import tenant
from datastrata.runtime import Runtime
from datastrata.systems.portfolio.service import PortfolioService
from datastrata.testing.servers import (
    create_database,
    create_roles,
    ephemeral_pgbouncer,
    ephemeral_postgres,
    migrated,
)

SLOTS = 50
#: The same tenant ids on both stores: the single-tenant store just does not tell them apart.
TENANTS = ["acme", "globex", "initech"]
THREADS = 8
POOL = 8
BOUNCER_POOL = 4


def _commands(runtime: Runtime, tenants: list[str], n: int, offset: int) -> float:
    """Run `n` deposits rotating over `tenants`; return commands/s."""
    svc = PortfolioService(runtime)
    start = time.perf_counter()
    for i in range(offset, offset + n):
        tid = tenants[i % len(tenants)]
        with tenant(tid):
            svc.deposit(f"P-{tid}-{i % SLOTS}", "1")
    return n / (time.perf_counter() - start)


def _peak_connections(owner: str, role: str, stop: threading.Event, out: list[int]) -> None:
    """Sample the application role's server connections every 10 ms until `stop`; append the peak to `out`."""
    peak = 0
    with psycopg.connect(owner, autocommit=True) as conn:
        while not stop.is_set():
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,)).fetchone()
            peak = max(peak, int(row[0]) if row else 0)
            time.sleep(0.01)
    out.append(peak)


def _many_tenants(settings: Settings, owner: str, role: str, total: int, tenants: int) -> dict[str, float]:
    """`total` commands from THREADS threads for random ones of `tenants` tenants; peak connections and rate."""
    stop, peak = threading.Event(), []
    sampler = threading.Thread(target=_peak_connections, args=(owner, role, stop, peak))
    with Runtime.open(settings) as runtime:
        svc = PortfolioService(runtime)
        ids = [f"t{i:04d}" for i in range(tenants)]
        errors: list[BaseException] = []

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            try:
                for _ in range(total // THREADS):
                    tid = rng.choice(ids)
                    with tenant(tid):
                        svc.deposit(f"M-{tid}-{seed}", "1")
            except BaseException as exc:  # reported after the run
                errors.append(exc)

        sampler.start()
        start = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(s,)) for s in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        stop.set()
        sampler.join()
        if errors:
            raise errors[0]
    return {"commands_per_s": round(total / elapsed), "peak_server_connections": peak[0]}


def _rounds(rounds: int, pairs: dict[str, Callable[[int], float]]) -> dict[str, float]:
    """Alternate the measurements `rounds` times; return each one's median."""
    seen: dict[str, list[float]] = {name: [] for name in pairs}
    for r in range(rounds):
        for name, measure in pairs.items():
            seen[name].append(measure(r))
    return {name: statistics.median(values) for name, values in seen.items()}


def run(quick: bool) -> dict[str, object]:
    """Measure RLS against a single-tenant store, and connections with 1,000 tenants; return JSON-friendly figures."""
    rounds, n, total = (3, 200, 1000) if quick else (7, 500, 4000)
    with ephemeral_postgres(fsync=False) as base:
        single = migrated(create_database(base, "single"))
        create_database(base, "rls")
        roles = create_roles(base, "rls", prefix="bench")
        migrate(Settings(store=roles.owner, app_role=roles.app_role, platform_role=roles.platform_role))
        rls_settings = Settings(store=roles.app, platform_store=roles.platform)
        with Runtime.open(Settings(store=single)) as one, Runtime.open(rls_settings) as rls:
            _commands(one, TENANTS, SLOTS, 0)  # warm both: pools, statements, the first streams
            _commands(rls, TENANTS, SLOTS, 0)
            rates = _rounds(
                rounds,
                {
                    "single": lambda r: _commands(one, TENANTS, n, SLOTS + r * n),
                    "rls": lambda r: _commands(rls, TENANTS, n, SLOTS + r * n),
                },
            )
        direct = _many_tenants(rls_settings, roles.owner, roles.app_role, total, 1000)
        users = ["postgres", roles.app_role, roles.platform_role]
        with ephemeral_pgbouncer(base, users=users, pool_size=BOUNCER_POOL) as bouncer:
            host = bouncer.rsplit("@", 1)[1]
            pooled = Settings(
                store=f"postgresql://{roles.app_role}@{host}/rls?pooler=pgbouncer",
                direct_store=roles.app,
                platform_store=roles.platform,
            )
            bounced = _many_tenants(pooled, roles.owner, roles.app_role, total, 1000)
    return {
        "commands": n,
        "rounds": rounds,
        "single_commands_per_s": round(rates["single"]),
        "rls_commands_per_s": round(rates["rls"]),
        "rls_vs_single": round(rates["rls"] / rates["single"], 3),
        "goal_rls_vs_single": 0.9,
        "tenants": 1000,
        "threads": THREADS,
        "direct": {**direct, "pool_max_size": POOL},
        "pgbouncer": {**bounced, "default_pool_size": BOUNCER_POOL},
    }


def main() -> None:
    """Run alone: print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 200 commands; 1,000 tenants x 1,000")
    args = parser.parse_args()
    print(json.dumps(run(args.quick), indent=2))


if __name__ == "__main__":
    main()
