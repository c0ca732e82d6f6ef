"""What reading one tenant's events for its export costs when many tenants share the log: its pages vs a scan.

One SQLite store holds ``acme``'s events among those of ``crowd`` other tenants (each as many as acme). Both ways
read acme's whole log in log order, 1,000 events a page, opened as every reader sees them, alternated in ABBA
rounds:

- ``scan``: the export before — the global log page by page (``read_page``), keeping acme's events (the peer);
- ``pages``: the export now — acme's own pages (``tenant_page``), then ``opened``.

Reported as seconds per read (median of the rounds), scan/pages, and one whole ``export_tenant`` of acme.

Usage::

    .venv/bin/python benchmarks/tenancy_export.py            # 20 other tenants, 2,000 events each, 6 rounds
    .venv/bin/python benchmarks/tenancy_export.py --quick    # 5 other tenants, 500 events each, 2 rounds
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from datastrata.core.config import Settings
from datastrata.core.events import NewEvent
from datastrata.eventlog.log import EventLog
from datastrata.runtime import Runtime
from datastrata.tenancy.export import export_tenant

PAGE = 1000


def _fill(log: EventLog, tenant: str, events: int) -> None:
    for stream in range(events // 100):
        batch = [NewEvent("Counted", {"n": i, "by": tenant}) for i in range(100)]
        log.append(f"tally-{stream}", batch, tenant=tenant)


def _scan(log: EventLog, tenant: str) -> int:
    found, after = 0, 0
    while True:
        page = log.read_page(after=after, limit=PAGE)
        found += sum(1 for e in page.events if e.tenant_id == tenant)
        if page.next_after <= after:
            return found
        after = page.next_after


def _pages(log: EventLog, tenant: str) -> int:
    found, after = 0, 0
    while True:
        page = log.tenant_page(tenant, after=after, limit=PAGE)
        found += len(log.opened(page.events))
        if page.next_after <= after:
            return found
        after = page.next_after


def _timed(read: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    found = read()
    return time.perf_counter() - start, found


def run(quick: bool) -> dict[str, object]:
    """Return seconds per read of acme's events each way, their ratio, and one whole export's seconds."""
    crowd, per_tenant, rounds = (5, 500, 2) if quick else (20, 2000, 6)
    with tempfile.TemporaryDirectory() as tmp, Runtime.open(Settings(store=f"sqlite:///{Path(tmp) / 's.db'}")) as rt:
        for n in range(crowd):
            _fill(rt.log, f"crowd-{n}", per_tenant // 2)
        _fill(rt.log, "acme", per_tenant)  # acme's events sit between the crowd's
        for n in range(crowd):
            _fill(rt.log, f"crowd-{n}", per_tenant - per_tenant // 2)
        ways = {"scan": lambda: _scan(rt.log, "acme"), "pages": lambda: _pages(rt.log, "acme")}
        seconds: dict[str, list[float]] = {name: [] for name in ways}
        for turn in range(rounds):
            order = list(ways) if turn % 2 == 0 else list(reversed(ways))  # ABBA: drift hits both alike
            for name in order:
                took, found = _timed(ways[name])
                assert found == per_tenant, (name, found)
                seconds[name].append(took)
        start = time.perf_counter()
        export_tenant(rt, "acme", Path(tmp) / "export")
        exported = time.perf_counter() - start
    medians = {name: statistics.median(s) for name, s in seconds.items()}
    return {
        "engine": "sqlite",
        "events": {"acme": per_tenant, "log": per_tenant * (crowd + 1)},
        "seconds_per_read": {k: round(v, 4) for k, v in medians.items()},
        "scan_to_pages": round(medians["scan"] / medians["pages"], 1),
        "export_seconds": round(exported, 3),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 other tenants of 500 events, 2 rounds")
    args = parser.parse_args(argv)
    json.dump(run(args.quick), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
