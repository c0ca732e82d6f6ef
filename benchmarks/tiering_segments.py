"""Closed event-log streams leaving the online log: the mover beside a bare export, and reads before and after.

An SQLite event log (``synchronous=NORMAL``) holds S closed streams of E events each (payloads of about 200
bytes), all recorded 30 days before the plan. Then, alternating in rounds on fresh copies of the log:

- ``export``: the floor — read each stream's events and write them as zstd Parquet to the folder (no verify, no
  record, no delete);
- ``mover``: ``Mover.run`` of a ``kind: segments`` policy — copy, read back and compare both checksums, and in one
  transaction record the move, record the archived stream and delete its online events.

Reported: MB/s of event data (payload and metadata as text, as the inventory counts them) for each and their
ratio; and ``EventLog.read`` of every stream before the move (online) and after it (from its segment in the
folder), as streams/s and the after/before ratio.

Usage::

    .venv/bin/python benchmarks/tiering_segments.py            # 3 rounds, 1,000 streams x 100 events
    .venv/bin/python benchmarks/tiering_segments.py --quick    # 2 rounds, 200 streams x 50 events
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from datastrata.core.clock import FrozenClock
from datastrata.core.events import NewEvent
from datastrata.eventlog import archive
from datastrata.eventlog.archive import LazyObjects
from datastrata.eventlog.log import EventLog
from datastrata.stores.open import open_database
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.policy import parse_policy

NOW = datetime(2026, 12, 1, tzinfo=UTC)
POLICY = {
    "name": "bench",
    "datasets": {"matches": {"kind": "segments", "streams": "match-", "rules": [{"after": "7d", "to": "cold"}]}},
}


def fill(path: Path, streams: int, events: int) -> None:
    """Write `streams` streams of `events` events each, recorded 30 days before NOW."""
    db = open_database(f"sqlite:///{path}?synchronous=NORMAL")
    log = EventLog(db, clock=FrozenClock(NOW - timedelta(days=30)))
    note = "x" * 120
    for s in range(streams):
        batch = [
            NewEvent(
                "Goal", {"team": "red" if i % 2 else "blue", "minute": i % 90, "note": note}, metadata={"by": "ref"}
            )
            for i in range(events)
        ]
        log.append(f"match-{s:05d}", batch)
    db.close()


def export(path: Path, folder: Path) -> float:
    """The floor: each stream's rows as zstd Parquet in `folder`; return the seconds."""
    db = open_database(f"sqlite:///{path}?synchronous=NORMAL")
    log = EventLog(db)
    started = time.perf_counter()
    with db.read() as tx:
        ids = [str(r[0]) for r in tx.query("SELECT DISTINCT stream_id FROM eventlog_events")]
    for sid in ids:
        with db.read() as tx:
            rows = log.engine.stream(tx, "default", sid, 1, None, None, None)
        (folder / f"{sid}.parquet").write_bytes(archive.to_parquet(archive.to_table(rows)))
    took = time.perf_counter() - started
    db.close()
    return took


def read_all(log: EventLog, ids: list[str]) -> float:
    """Seconds to read every stream through the log."""
    started = time.perf_counter()
    for sid in ids:
        log.read(sid)
    return time.perf_counter() - started


def move(path: Path, folder: Path) -> tuple[float, int, float, float, int]:
    """Run the mover; return its seconds, the bytes it moved, reads before and after (seconds), streams."""
    db = open_database(f"sqlite:///{path}?synchronous=NORMAL")
    clock = FrozenClock(NOW)
    url = f"file://{folder}"
    log = EventLog(db, clock=clock)
    log.objects = LazyObjects(url, clock=clock)
    mover = Mover(db, ObjectStore(url, clock=clock), parse_policy(POLICY), clock=clock)
    planned = mover.plan(NOW)
    ids = [m.item.key for m in planned.moves]
    size = sum(m.item.bytes for m in planned.moves)
    before = read_all(log, ids)
    started = time.perf_counter()
    mover.run(planned)
    took = time.perf_counter() - started
    after = read_all(log, ids)
    db.close()
    return took, size, before, after, len(ids)


def run(quick: bool) -> dict[str, object]:
    """Measure the segments part of the tiering benchmark; return JSON-friendly figures."""
    streams, events, rounds = (200, 50, 2) if quick else (1000, 100, 3)
    work = Path(tempfile.mkdtemp(prefix="segments-bench-"))
    try:
        master = work / "master.db"
        fill(master, streams, events)
        floors, movers, befores, afters = [], [], [], []
        size = n = 0
        for r in range(rounds):
            for way in ("export", "mover"):
                copy = work / f"{way}-{r}.db"
                shutil.copy(master, copy)
                folder = work / f"{way}-{r}"
                folder.mkdir()
                if way == "export":
                    floors.append(export(copy, folder))
                else:
                    took, size, before, after, n = move(copy, folder)
                    movers.append(took)
                    befores.append(before)
                    afters.append(after)
                print(f"round {r + 1}/{rounds} {way} done", file=sys.stderr)
        mb = size / 1e6
        floor, mover = statistics.median(floors), statistics.median(movers)
        before, after = statistics.median(befores), statistics.median(afters)
        return {
            "streams": streams,
            "events_per_stream": events,
            "event_mb": round(mb, 2),
            "export_mb_s": round(mb / floor, 2),
            "mover_mb_s": round(mb / mover, 2),
            "mover_vs_export": round(floor / mover, 2),
            "read_online_streams_s": round(n / before, 1),
            "read_archived_streams_s": round(n / after, 1),
            "archived_read_vs_online": round(before / after, 2),
            "rounds": rounds,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    """Run alone: print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 200 streams x 50 events")
    args = parser.parse_args()
    print(json.dumps(run(args.quick), indent=2))


if __name__ == "__main__":
    main()
