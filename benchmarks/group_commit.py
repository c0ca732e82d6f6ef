"""Group commit: 16 concurrent clients' portfolio deposits at full durability beside the same with no flush at all.

Each client is a thread issuing real system commands (``PortfolioService.deposit`` through the runtime: snapshot
and stream read, rule check, append at the expected version, idempotency claim) on a portfolio of its own, for a
fixed time. Configurations, interleaved in rounds so the shared machine's drift hits all alike (best of the rounds):

- SQLite ``synchronous=FULL`` with group commit (the default) — the figure;
- SQLite ``synchronous=OFF`` (no fsync: the CPU-bound ceiling), with and without group commit; the ceiling is the
  faster of the two;
- SQLite ``synchronous=FULL`` with ``group_commit=off`` (each command waits for its own flush) — the old path;
- PostgreSQL (``fsync=on``) with ``synchronous_commit=on`` beside ``synchronous_commit=off`` (its own group commit
  shares the WAL flushes; the client pool holds one connection per client so nothing of ours serialises them).

Reported per configuration: commands/s, commits per command (SQLite: COMMITs the store issued / commands) and the
process CPU seconds per 1,000 commands.

Usage::

    .venv/bin/python benchmarks/group_commit.py            # 3 rounds of 4 s per configuration
    .venv/bin/python benchmarks/group_commit.py --quick    # 1 round of 2 s, SQLite and PostgreSQL
    .venv/bin/python benchmarks/group_commit.py --no-postgres
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.systems.portfolio.service import PortfolioService

CLIENTS = 16
SQLITE = {
    "full_group": "synchronous=FULL",
    "off_group": "synchronous=OFF",
    "off_solo": "synchronous=OFF&group_commit=off",
    "full_solo": "synchronous=FULL&group_commit=off",
}


def _drive(runtime: Runtime, seconds: float, clients: int, tag: str) -> dict[str, float]:
    """Run `clients` threads of deposits for `seconds`; return commands/s, commits/command and CPU per 1,000."""
    service = PortfolioService(runtime)
    for k in range(clients):  # warm: each portfolio's first command, its location and statements
        service.deposit(f"{tag}-{k}", "1.00")
    counts = getattr(runtime.db, "commit_counts", None)
    before = (counts.commits, counts.transactions) if counts is not None else (0, 0)
    done = [0] * clients
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(k: int) -> None:
        start.wait()
        n = 0
        while time.perf_counter() < stop_at[0]:
            service.deposit(f"{tag}-{k}", "1.00")
            n += 1
        done[k] = n

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    cpu0, t0 = time.process_time(), time.perf_counter()
    stop_at[0] = t0 + seconds
    start.wait()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    commands = sum(done)
    figures = {"commands_per_s": commands / elapsed, "cpu_ms_per_command": 1000 * cpu / max(commands, 1)}
    if counts is not None:
        commits = counts.commits - before[0]
        figures["commits_per_command"] = commits / max(counts.transactions - before[1], 1)
    return figures


def _sqlite_round(home: Path, name: str, query: str, seconds: float, r: int) -> dict[str, float]:
    folder = home / f"{name}-{r}"
    url = f"sqlite:///{folder}/store.db?{query}"
    settings = Settings(store=url, graph=f"ladybug:///{folder}/graph", objects=f"file://{folder}/objects")
    with Runtime.open(settings) as runtime:
        return _drive(runtime, seconds, CLIENTS, name)


def _postgres_urls(stack: ExitStack) -> dict[str, str]:
    """Two migrated databases on one fsync=on server: one with synchronous_commit on, one with it off."""
    import psycopg

    from datastrata.testing.servers import create_database, ephemeral_postgres, migrated

    server = stack.enter_context(ephemeral_postgres(fsync=True))
    urls = {}
    for name, setting in (("pg_on", "on"), ("pg_off", "off")):
        url = migrated(create_database(server, f"bench_group_{name}"))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE bench_group_{name} SET synchronous_commit = {setting}".encode())
        urls[name] = f"{url}?pool_size={CLIENTS}"
    return urls


def _postgres_round(url: str, home: Path, name: str, seconds: float, r: int) -> dict[str, float]:
    folder = home / f"{name}-{r}"
    settings = Settings(store=url, graph=f"ladybug:///{folder}/graph", objects=f"file://{folder}/objects")
    with Runtime.open(settings) as runtime:
        return _drive(runtime, seconds, CLIENTS, f"{name}{r}")


def _best(samples: list[dict[str, float]]) -> dict[str, float]:
    """The round with the most commands/s (on a shared host, the least disturbed), rounded."""
    best = max(samples, key=lambda s: s["commands_per_s"])
    return {k: round(v, 3 if k != "commands_per_s" else 1) for k, v in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round of 2 s per configuration")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    rounds, seconds = (1, 2.0) if args.quick else (3, 4.0)
    samples: dict[str, list[dict[str, float]]] = {}
    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-group-", dir=".")))
        pg = {} if args.no_postgres else _postgres_urls(stack)
        for r in range(rounds):
            for name, query in SQLITE.items():
                samples.setdefault(name, []).append(_sqlite_round(home, name, query, seconds, r))
                print(f"round {r + 1}: {name} {samples[name][-1]}", file=sys.stderr)
            for name, url in pg.items():
                samples.setdefault(name, []).append(_postgres_round(url, home, name, seconds, r))
                print(f"round {r + 1}: {name} {samples[name][-1]}", file=sys.stderr)
    best = {name: _best(s) for name, s in samples.items()}
    ceiling = max(best["off_group"]["commands_per_s"], best["off_solo"]["commands_per_s"])
    rate = {name: [r["commands_per_s"] for r in s] for name, s in samples.items()}
    per_round = [
        round(full / max(off, solo), 3)
        for full, off, solo in zip(rate["full_group"], rate["off_group"], rate["off_solo"], strict=True)
    ]
    figures: list[dict[str, Any]] = [
        {
            "name": "sqlite_full_group_vs_off",
            "unit": "commands/s",
            "clients": CLIENTS,
            "configurations": {k: v for k, v in best.items() if not k.startswith("pg_")},
            "ceiling_off": ceiling,
            "ratio_full_group_to_off": round(best["full_group"]["commands_per_s"] / ceiling, 3),
            "ratio_full_group_to_full_solo": round(
                best["full_group"]["commands_per_s"] / best["full_solo"]["commands_per_s"], 2
            ),
            "ratio_per_round": per_round,
            "ratio_median_of_rounds": statistics.median(per_round),
            "commits_per_command": best["full_group"]["commits_per_command"],
            "goal": "ratio_full_group_to_off >= 0.8 and commits_per_command <= 0.25",
        }
    ]
    if pg:
        figures.append(
            {
                "name": "postgresql_synchronous_commit_on_vs_off",
                "unit": "commands/s",
                "clients": CLIENTS,
                "configurations": {k: v for k, v in best.items() if k.startswith("pg_")},
                "ratio_on_to_off": round(best["pg_on"]["commands_per_s"] / best["pg_off"]["commands_per_s"], 3),
                "ratio_per_round": [round(on / off, 3) for on, off in zip(rate["pg_on"], rate["pg_off"], strict=True)],
                "goal": "ratio_on_to_off >= 0.8",
            }
        )
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    mode = "quick" if args.quick else "full"
    print(json.dumps({"figures": figures, "mode": mode, "rounds": rounds, "loadavg": load}, indent=2))


if __name__ == "__main__":
    main()
