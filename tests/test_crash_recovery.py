"""SIGKILL in the middle of appending, projecting or relaying loses nothing and applies nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from datastrata.eventlog import EventLog
from datastrata.messaging import DeadLetters, OutboxRelay
from datastrata.messaging.bus import RedisStreamsBus
from datastrata.projections import ProjectionRunner
from datastrata.stores.open import open_database
from tests.crash_child import SlowTally, append_batches

CHILD = Path(__file__).with_name("crash_child.py")
ROOT = Path(__file__).parents[1]


def start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(CHILD), *args], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def kill_after_lines(proc: subprocess.Popen[str], lines: int) -> list[str]:
    assert proc.stdout is not None
    seen = [proc.stdout.readline().strip() for _ in range(lines)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return seen


def test_sigkill_while_appending_loses_no_acknowledged_batch_and_retries_store_once(store_url: str) -> None:
    EventLog(open_database(store_url))  # create the schema before racing the child
    acknowledged = kill_after_lines(start("append", store_url, "0", "100000"), 60)
    acked = {int(x) for x in acknowledged}
    db = open_database(store_url)
    log = EventLog(db)
    stored = log.read_all(limit=1_000_000)
    per_batch: dict[int, int] = {}
    for e in stored:
        per_batch[int(e.payload["i"])] = per_batch.get(int(e.payload["i"]), 0) + 1
    assert acked <= set(per_batch)
    assert set(per_batch.values()) == {3}  # every batch whole, none half-written
    # Restart from the first unacknowledged batch: the retry of a batch that did commit stores nothing new.
    resume = max(acked) + 1
    append_batches(log, resume, resume + 5)
    again = log.read_all(limit=1_000_000)
    ids = [e.event_id for e in again]
    assert len(ids) == len(set(ids))
    for stream in {e.stream_id for e in again}:
        versions = [e.version for e in log.read(stream)]
        assert versions == list(range(1, len(versions) + 1))
    db.close()


def test_sigkill_while_projecting_applies_every_event_exactly_once(store_url: str) -> None:
    db = open_database(store_url)
    log = EventLog(db)
    append_batches(log, 0, 100)  # 300 events
    proc = start("project", store_url)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.4)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    runner = ProjectionRunner(log, SlowTally(), batch_size=40)
    assert 0 < runner.position() < log.head(), "the kill should land mid-run"
    runner.catch_up()
    with db.read() as tx:
        applied = tx.scalar("SELECT count(*) FROM crash_applied")
        total = tx.scalar("SELECT sum(n) FROM crash_tally")
    assert applied == total == 300
    db.close()


def test_sigkill_while_relaying_delivers_every_event_once_in_order(store_url: str, redis_url: str) -> None:
    db = open_database(store_url)
    log = EventLog(db)
    append_batches(log, 0, 60)  # 180 events
    proc = start("relay", store_url, redis_url)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    dead = DeadLetters(db)
    relay = OutboxRelay(log, RedisStreamsBus(redis_url, dead, log_id=log.identity))
    assert relay.position() < log.head(), "the kill should land mid-run"
    relay.drain()
    consumer = RedisStreamsBus(redis_url, dead, log_id=log.identity)
    got: list[str] = []
    consumer.subscribe("audit", lambda e: got.append(e.event_id))
    while consumer.poll():
        pass
    assert got == [e.event_id for e in log.read_all(limit=10_000)]
    consumer.close()
    relay.bus.close()
    db.close()
