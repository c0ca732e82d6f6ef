"""Onboarding a tenant in each isolation model, and the connections 100 bridge tenants hold under load.

- ``onboarding``: seconds from ``provisioner(model).provision`` to the tenant's first committed append, per model,
  on SQLite and PostgreSQL. The first bridge and silo of a store also create and migrate their template (reported
  as ``first``); ``median``/``max`` are over the tenants after it. Goal: a bridge tenant ready in ≤ 1 s. On
  PostgreSQL the bridge is also compared with its floor, the bare ``CREATE TABLE … (LIKE …)`` of every template
  table in one transaction (what any clone must do), measured in the same run.
- ``connections``: PostgreSQL, T bridge tenants (100; ``--quick`` 20) provisioned beside the home store, then 8
  writer threads append to random tenants for a few seconds while the server's connections to the database are
  sampled (``pg_stat_activity``). Bridge locations share the home pool, so the count stays at the home pool's size
  whatever T is; a silo per tenant would hold at least one pool per tenant.

Usage::

    .venv/bin/python benchmarks/tenancy_models.py            # 10 bridges, 5 silos, 100 tenants under load
    .venv/bin/python benchmarks/tenancy_models.py --quick    # 5 bridges, 3 silos, 20 tenants under load
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

from datastrata.catalog import migrate
from datastrata.core.config import Settings
from datastrata.core.events import NewEvent
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.runtime.tenants import ListedTenants, TenantPlacement
from datastrata.tenancy.models import provisioner
from datastrata.tenancy.naming import TEMPLATE_SCHEMA
from datastrata.testing.servers import create_database, ephemeral_postgres, migrated

MODELS = ("shared", "dedicated-storage", "dedicated-infrastructure")
#: The onboarding goal of a bridge tenant (issue 14): ready in about a second.
BRIDGE_GOAL_S = 1.0


def onboard(runtime: Runtime, directory: ListedTenants, tenant: str, model: str) -> float:
    """Provision `tenant` in `model` and append its first event; the seconds it took."""
    started = time.perf_counter()
    spec = provisioner(model).provision(runtime, tenant)
    directory.place(TenantPlacement(tenant, "professional", model, spec=spec))
    runtime.append(Scope("bench", "first", tenant), [NewEvent("Onboarded", {"tenant": tenant})])
    return time.perf_counter() - started


def ddl_floor(url: str, rounds: int) -> float:
    """The least a bridge clone does: ``CREATE TABLE … (LIKE … INCLUDING ALL)`` of every template table, rolled back.

    Median seconds over `rounds`; what the machine's DDL costs right now (the clone's ratio is against it).
    """
    times = []
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", (TEMPLATE_SCHEMA,)
            ).fetchall()
        ]
        for _ in range(rounds):
            started = time.perf_counter()
            conn.execute("BEGIN")
            conn.execute("CREATE SCHEMA floor_probe")
            for table in tables:
                conn.execute(
                    f'CREATE TABLE floor_probe."{table}" (LIKE {TEMPLATE_SCHEMA}."{table}" INCLUDING ALL)'.encode()
                )
            conn.execute("ROLLBACK")
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def onboarding(settings: Settings, counts: dict[str, int]) -> dict[str, object]:
    """Onboard `counts[model]` tenants of each model in one runtime; seconds per tenant."""
    directory = ListedTenants()
    out: dict[str, object] = {}
    with Runtime.open(settings, tenants=directory) as runtime:
        for model in MODELS:
            times = [onboard(runtime, directory, f"{model[:6]}-{i}", model) for i in range(counts[model])]
            rest = times[1:] or times
            out[model] = {
                "tenants": len(times),
                "first_s": round(times[0], 3),
                "median_s": round(statistics.median(rest), 3),
                "max_s": round(max(rest), 3),
            }
    bridge = out["dedicated-storage"]
    assert isinstance(bridge, dict)
    out["bridge_goal_met"] = bridge["median_s"] <= BRIDGE_GOAL_S
    if settings.store.startswith("postgresql"):
        floor = ddl_floor(settings.store, 3)
        out["bridge_ddl_floor_s"] = round(floor, 3)
        out["bridge_vs_floor"] = round(bridge["median_s"] / floor, 2)
    return out


def connections_under_load(base: str, tenants: int, seconds: float) -> dict[str, object]:
    """Bridge `tenants` on one PostgreSQL store, 8 writers on random tenants; the connections the server saw."""
    url = migrated(create_database(base, "bench_conn"))
    directory = ListedTenants()
    names = [f"tenant-{i:03d}" for i in range(tenants)]
    with Runtime.open(Settings(store=url), tenants=directory) as runtime:
        started = time.perf_counter()
        for tenant in names:
            spec = provisioner("dedicated-storage").provision(runtime, tenant)
            directory.place(TenantPlacement(tenant, "professional", "dedicated-storage", spec=spec))
        provisioned_s = time.perf_counter() - started
        stop, appended, seen = threading.Event(), [0] * 8, []

        def writer(i: int) -> None:
            rng = random.Random(i)
            while not stop.is_set():
                tenant = rng.choice(names)
                runtime.append(Scope("bench", f"w{i}", tenant), [NewEvent("Written", {"i": i})])  # a stream per writer
                appended[i] += 1

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        with psycopg.connect(f"{base}/postgres", autocommit=True) as probe:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                row = probe.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = 'bench_conn'").fetchone()
                seen.append(int(row[0]) if row else 0)
                time.sleep(0.2)
        stop.set()
        for thread in threads:
            thread.join()
        opened = len([s for s in runtime.placement.all()[1:]])
        budget = runtime.connections()
    return {
        "tenants": tenants,
        "tenant_locations": opened,
        "provision_s_per_tenant": round(provisioned_s / tenants, 3),
        "appends_per_s": round(sum(appended) / seconds),
        "server_connections_max": max(seen),
        "runtime_connection_budget": budget,
        "connections_per_tenant": round(max(seen) / tenants, 3),
    }


def run(quick: bool) -> dict[str, object]:
    """Onboarding per model on both engines, then connections under load with many bridge tenants."""
    counts = {"shared": 5, "dedicated-storage": 5 if quick else 10, "dedicated-infrastructure": 3 if quick else 5}
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="tenancy-models-") as tmp:
        settings = Settings(store=f"sqlite:///{Path(tmp) / 'datastrata.db'}")
        migrate(settings)
        result["sqlite"] = onboarding(settings, counts)
    with ephemeral_postgres(fsync=True) as base:
        result["postgresql"] = onboarding(Settings(store=migrated(create_database(base, "bench_home"))), counts)
        result["connections"] = connections_under_load(base, 20 if quick else 100, 3.0 if quick else 8.0)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tenants (about a minute)")
    args = parser.parse_args()
    print(json.dumps(run(args.quick), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
