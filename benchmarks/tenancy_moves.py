"""Moving a tenant through the catalogue: the copy rate beside a bare batch-copy loop, and the tenant's write pause.

A SQLite home store (``synchronous=NORMAL``), migrated, with tenants ``acme`` and ``beta`` catalogued in the indie
tier (shared). ``acme`` holds N match teams (about 120 bytes a row; bulk-inserted) and its commands' events. Then:

- ``floor``: the bare loop a copy cannot beat — read 500 rows in key order, write them at the target with one
  ``executemany`` per short transaction, nothing else (no journal, no upsert, no verify);
- ``move``: ``tenants move acme --to dedicated-storage`` and then ``--to dedicated-infrastructure``
  (``tenancy.move.start_move``: provision, plan, copy with an upsert per batch and the cursor journalled after
  each, the events re-appended, catch-up, followers, fence, delta, verify, switch in the catalogue, complete, the
  bridge destroyed) while one writer per tenant registers a team (a command: a row and an event) every 2 ms.

Reported: rows/s and MB/s of the first move's copy step and of the floor and their ratio; each move's wall time and
steps; each writer's command latency p50 and max during each move (acme's max is its pause; beta should stay near
its p50).

Usage::

    .venv/bin/python benchmarks/tenancy_moves.py            # 100,000 rows
    .venv/bin/python benchmarks/tenancy_moves.py --quick    # 20,000 rows
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from datastrata.catalog import migrate
from datastrata.core.config import Settings
from datastrata.core.tenancy import tenant as acting_for
from datastrata.runtime import Runtime
from datastrata.runtime.jobs import Job
from datastrata.runtime.movetables import BATCH, Selection, page, tenant_tables
from datastrata.stores.open import open_database
from datastrata.systems.match.service import MatchService
from datastrata.tenancy.catalogue import catalogue_of
from datastrata.tenancy.move import move_status, start_move
from datastrata.tenancy.secrets import KEY_VARIABLE

MODELS = ("dedicated-storage", "dedicated-infrastructure")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _url(path: Path) -> str:
    return f"sqlite:///{path}?synchronous=NORMAL"


def _fill(url: str, rows: int) -> None:
    """Bulk-insert `rows` teams of acme into a migrated store."""
    db = open_database(url)
    with db.transaction() as tx:
        tx.executemany(
            "INSERT INTO match_teams (tenant_id, code, name) VALUES ('acme', ?, ?)",
            ((f"Z{i:07d}", f"team {i:08d} of acme " + "x" * 90) for i in range(rows)),
        )
    db.close()


def _floor(source_url: str, target_url: str) -> tuple[float, int, int]:
    source, target = open_database(source_url), open_database(target_url)
    part = next(p for p in tenant_tables(source) if p.table == "match_teams")
    started, after, rows, nbytes = time.perf_counter(), None, 0, 0
    while True:
        with source.read() as tx:
            got = page(tx, part, Selection.tenant("acme"), after, BATCH)
        if not got:
            break
        with target.transaction() as tx:
            tx.executemany("INSERT INTO match_teams (tenant_id, code, name) VALUES (?, ?, ?)", got)
        rows += len(got)
        nbytes += sum(len(str(v)) for r in got for v in r)
        after = [got[-1][0], got[-1][1]]
    took = time.perf_counter() - started
    source.close()
    target.close()
    return took, rows, nbytes


def _writer(service: MatchService, tenant: str, stop: threading.Event, latencies: list[float]) -> None:
    n = 0
    with acting_for(tenant):
        while not stop.is_set():
            n += 1
            code = "".join(_LETTERS[(n // 26**i) % 26] for i in (2, 1, 0))
            started = time.perf_counter()
            service.register_team(code, f"{tenant} {code}")
            latencies.append(time.perf_counter() - started)
            time.sleep(0.002)


def _latency(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values) * 1000, 2),
        "max": round(max(values) * 1000, 1),
        "writes": len(values),
    }


def _moves(folder: Path, rows: int) -> list[dict[str, Any]]:
    settings = Settings(store=_url(folder / "home.db"), graph=f"ladybug:///{folder}/graph")
    migrate(settings)
    _fill(settings.store, rows)
    with Runtime.open(settings) as runtime:
        catalogue = catalogue_of(runtime)
        for name in ("acme", "beta"):
            catalogue.add(name, "indie")
        service = MatchService(runtime)
        stop = threading.Event()
        latencies: dict[str, list[float]] = {"acme": [], "beta": []}
        writers = [
            threading.Thread(target=_writer, args=(service, t, stop, latencies[t]), daemon=True) for t in latencies
        ]
        for w in writers:
            w.start()
        time.sleep(0.3)
        found = []
        for model in MODELS:
            idle = {t: len(v) for t, v in latencies.items()}
            started = time.perf_counter()
            job = start_move(runtime, "acme", model, grace=0, foreground=True)
            wall = time.perf_counter() - started
            if not isinstance(job, Job) or job.state != "succeeded":
                raise SystemExit(f"the move to {model} did not complete: {getattr(job, 'error', job)}")
            [done] = [m for m in move_status(runtime, "acme") if m.id == job.result["move"]]
            found.append(
                {
                    "to": model,
                    "wall_seconds": round(wall, 3),
                    "copied_rows": done.cursors["copied"],
                    "copied_bytes": done.cursors["bytes"],
                    "events_cursor": done.cursors["events"],
                    "steps_seconds": done.timings["seconds"],
                    "latency_ms": {t: _latency(v[idle[t] :]) for t, v in latencies.items()},
                }
            )
            time.sleep(0.2)
        stop.set()
        for w in writers:
            w.join(10)
    return found


def run(quick: bool) -> dict[str, object]:
    """Measure the floor copy and the two moves; return the figures."""
    rows = 20_000 if quick else 100_000
    os.environ.setdefault(KEY_VARIABLE, base64.urlsafe_b64encode(os.urandom(32)).decode())  # this run's own key
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "floor").mkdir()
        for name in ("source", "target"):
            migrate(Settings(store=_url(folder / "floor" / f"{name}.db"), graph=""))
        _fill(_url(folder / "floor" / "source.db"), rows)
        took, n, nbytes = _floor(_url(folder / "floor" / "source.db"), _url(folder / "floor" / "target.db"))
        (folder / "move").mkdir()
        moves = _moves(folder / "move", rows)
    first = moves[0]
    copy_rate = first["copied_rows"] / first["steps_seconds"]["copy"]
    floor_rate = n / took
    return {
        "rows": rows,
        "copy_rows_per_s": round(copy_rate),
        "copy_mb_per_s": round(first["copied_bytes"] / first["steps_seconds"]["copy"] / 1e6, 2),
        "floor_rows_per_s": round(floor_rate),
        "floor_mb_per_s": round(nbytes / took / 1e6, 2),
        "copy_vs_floor": round(copy_rate / floor_rate, 2),
        "moves": moves,
    }


def main() -> None:
    """Run the benchmark and print its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(run(parser.parse_args().quick), indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
