"""What the tier quota costs a command: deposits of a catalogued tenant (charged) beside a single-tenant store's.

Two fresh SQLite files, portfolio deposits through ``PortfolioService``, interleaved in rounds so the machine's
drift hits both alike:

- ``single``: a store with only ``default`` (nothing is counted: the peer);
- ``charged``: a store with tenant ``acme`` (indie) catalogued, deposits as ``acme``: each command also upserts
  its payload bytes into ``tenancy_usage`` and checks the quota, in its own transaction.

Reported as commands/s of each (median of the rounds) and charged/single.

Usage::

    .venv/bin/python benchmarks/tenancy_quota.py            # 6 rounds of 1 s each (ABBA order)
    .venv/bin/python benchmarks/tenancy_quota.py --quick    # 2 rounds of 0.5 s
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from datastrata.core.config import Settings
from datastrata.core.tenancy import tenant
from datastrata.runtime import Runtime
from datastrata.systems.portfolio.service import PortfolioService
from datastrata.tenancy.catalogue import catalogue_of


def _rate(command: Callable[[], object], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    stop = start + seconds
    while time.perf_counter() < stop:
        command()
        count += 1
    return count / (time.perf_counter() - start)


def run(quick: bool) -> dict[str, object]:
    """Return commands/s of a single-tenant store and of a charged tenant, and their ratio."""
    rounds, seconds = (2, 0.5) if quick else (6, 1.0)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        single = stack.enter_context(Runtime.open(Settings(store=f"sqlite:///{Path(tmp) / 'single.db'}")))
        shared = stack.enter_context(Runtime.open(Settings(store=f"sqlite:///{Path(tmp) / 'tenants.db'}")))
        catalogue_of(shared).add("acme", "indie")
        plain, charged = PortfolioService(single), PortfolioService(shared)

        def as_tenant(who: str, service: PortfolioService) -> Callable[[], object]:
            def deposit() -> object:
                with tenant(who):
                    return service.deposit("p", "1")

            return deposit

        ways = {"single": as_tenant("default", plain), "charged": as_tenant("acme", charged)}
        for way in ways.values():
            way()  # warm: the first command opens the portfolio's tables
        rates: dict[str, list[float]] = {name: [] for name in ways}
        for turn in range(rounds):
            order = list(ways) if turn % 2 == 0 else list(reversed(ways))  # ABBA: drift hits both alike
            for name in order:
                rates[name].append(_rate(ways[name], seconds))
        used = catalogue_of(shared).usage("acme")
    medians = {name: statistics.median(r) for name, r in rates.items()}
    return {
        "engine": "sqlite",
        "commands_per_s": {k: round(v, 1) for k, v in medians.items()},
        "charged_to_single": round(medians["charged"] / medians["single"], 2),
        "acme_usage_bytes": used,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 0.5 s")
    args = parser.parse_args(argv)
    json.dump(run(args.quick), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
