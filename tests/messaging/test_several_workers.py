"""Several worker processes on one store and one Redis: each entry to one process per group, effects once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from datastrata.core.events import NewEvent
from datastrata.eventlog import EventLog
from datastrata.stores.database import Database
from datastrata.stores.open import open_database
from tests.messaging.bus_worker import GROUPS, ddl

WORKER = Path(__file__).with_name("bus_worker.py")
ROOT = Path(__file__).parents[2]
PASSWORD = "s3cret-pw-9f2"


def with_password(redis_url: str) -> str:
    """A URL of the same server as a user with a password (the default user stays open for the fixtures)."""
    client = redis.Redis.from_url(redis_url)
    client.acl_setuser(
        "alice", enabled=True, passwords=[f"+{PASSWORD}"], keys=["*"], channels=["*"], commands=["+@all"]
    )
    client.close()
    return redis_url.replace("redis://", f"redis://alice:{PASSWORD}@")


class Workers:
    """Worker processes started for one test, stopped at its end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: dict[str, subprocess.Popen[str]] = {}

    def start(self, name: str, store: str, bus: str, *, delay: float = 0.0) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DATASTRATA_CONSUMER": name}
        stderr = (self.tmp_path / f"{name}.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), store, bus, str(delay)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
            cwd=self.tmp_path,
        )
        stderr.close()
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", self.log(name)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text()

    def kill(self, name: str) -> None:
        os.kill(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    started = Workers(tmp_path)
    yield started
    started.stop()


def wait_until(what: str, check: Callable[[], bool], *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def effects(db: Database) -> list[tuple[str, str, str]]:
    with db.read() as tx:
        return [(str(g), str(e), str(w)) for g, e, w in tx.query("SELECT grp, event_id, worker FROM bus_effects")]


def deliveries(db: Database) -> list[tuple[str, str, str]]:
    with db.read() as tx:
        return [(str(g), str(e), str(w)) for g, e, w in tx.query("SELECT grp, event_id, worker FROM bus_deliveries")]


def prepare(store_url: str, n: int) -> tuple[Database, EventLog, list[str]]:
    db = open_database(store_url)
    db.ensure_schema("bus_worker_test", ddl)
    log = EventLog(db)
    for i in range(n):
        log.append(f"thing-{i % 7}", [NewEvent(type="Thing", payload={"n": i}, event_id=f"ev-{i}")])
    return db, log, [f"ev-{i}" for i in range(n)]


def assert_each_effect_once(db: Database, ids: list[str]) -> None:
    done = effects(db)
    for group in GROUPS:
        assert sorted(e for g, e, _w in done if g == group) == sorted(ids), f"group {group}: an effect twice or missing"


def test_two_worker_processes_deliver_each_entry_to_one_of_them_and_apply_each_effect_once(
    store_url: str, redis_url: str, workers: Workers
) -> None:
    bus = f"{with_password(redis_url)}?claim_idle_ms=120000"  # no take-overs here: nobody dies
    db, log, ids = prepare(store_url, 0)
    workers.start("w-a", store_url, bus, delay=0.002)
    workers.start("w-b", store_url, bus, delay=0.002)
    for i in range(150):
        log.append(f"thing-{i % 7}", [NewEvent(type="Thing", payload={"n": i}, event_id=f"ev-{i}")])
        ids.append(f"ev-{i}")
    wait_until("every effect", lambda: len(effects(db)) >= 2 * len(ids))
    assert_each_effect_once(db, ids)
    by_entry: dict[tuple[str, str], set[str]] = {}
    for group, event_id, worker in deliveries(db):
        by_entry.setdefault((group, event_id), set()).add(worker)
    assert all(len(w) == 1 for w in by_entry.values()), "an entry went to both processes of one group"
    assert {w for ws in by_entry.values() for w in ws} <= {"w-a", "w-b"}

    client = redis.Redis.from_url(redis_url)
    key = f"datastrata:events:{log.identity}"
    wait_until("the stream to be trimmed", lambda: client.xlen(key) == 0)  # every group acknowledged everything
    assert {g["name"] for g in client.xinfo_groups(key)} == {b"billing", b"audit"}
    assert all(g["pending"] == 0 for g in client.xinfo_groups(key))
    client.close()
    workers.stop()
    for name in ("w-a", "w-b"):
        assert PASSWORD not in workers.log(name)
    db.close()


def test_a_killed_workers_pending_entries_are_taken_over_by_the_other_after_the_idle_timeout(
    store_url: str, redis_url: str, workers: Workers
) -> None:
    bus = f"{with_password(redis_url)}?claim_idle_ms=300"
    db, log, ids = prepare(store_url, 200)
    workers.start("w-a", store_url, bus, delay=0.01)  # slow: the kill lands mid-batch
    wait_until("w-a to apply some", lambda: len(effects(db)) >= 20)
    workers.kill("w-a")
    client = redis.Redis.from_url(redis_url)
    key = f"datastrata:events:{log.identity}"
    left = client.xpending(key, "billing")
    assert left["pending"] > 0 and {c["name"] for c in left["consumers"]} == {b"w-a"}, "kill should land mid-batch"
    by_a = {e for g, e, w in effects(db) if g == "billing" and w == "w-a"}
    assert 0 < len(by_a) < len(ids)

    workers.start("w-b", store_url, bus)
    wait_until("every effect", lambda: len(effects(db)) >= 2 * len(ids))
    assert_each_effect_once(db, ids)
    by_b = {e for g, e, w in effects(db) if g == "billing" and w == "w-b"}
    assert by_a | by_b == set(ids) and not by_a & by_b
    wait_until("the stream to be trimmed", lambda: client.xlen(key) == 0)
    for group in GROUPS:
        assert client.xpending(key, group)["pending"] == 0
        # the dead consumer, with nothing left pending, is forgotten; the live one stays
        wait_until(
            "w-a to be forgotten", lambda g=group: {c["name"] for c in client.xinfo_consumers(key, g)} == {b"w-b"}
        )  # type: ignore[misc]
    client.close()
    assert PASSWORD not in workers.log("w-b")
    db.close()


def test_two_datastrata_worker_processes_keep_the_master_data_copies(
    sqlite_url: str, redis_url: str, tmp_path: Path
) -> None:
    from datastrata.core.config import Settings
    from datastrata.runtime import Runtime
    from datastrata.systems.masterdata.service import MasterDataService

    bus = with_password(redis_url)
    exe = Path(sys.executable).with_name("datastrata")
    procs: list[subprocess.Popen[str]] = []
    try:
        for name in ("md-a", "md-b"):
            env = {**os.environ, "DATASTRATA_CONSUMER": name}
            proc = subprocess.Popen(
                [str(exe), "--store", sqlite_url, "--bus", bus, "worker", "--system", "masterdata"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
                cwd=tmp_path,
            )
            procs.append(proc)
            assert proc.stdout is not None
            started = proc.stdout.readline()
            assert f"consumer {name}" in started and PASSWORD not in started and "alice:***@" not in started
        with Runtime.open(Settings(store=sqlite_url, bus=bus)) as runtime:
            svc: MasterDataService = runtime.service("masterdata", MasterDataService)
            keys = [f"C{i}" for i in range(40)]
            for key in keys:
                attributes = {"name": key, "credit_tier": "gold", "email": f"{key}@x.co", "address": "Tokyo"}
                svc.put("customer", key, attributes, actor="a")

            def copied() -> bool:
                return all(found["copy"] is not None for k in keys for found in svc.downstream("customer", k))

            wait_until("every customer copied", copied)
            assert runtime.dead_letters.list() == []
            client = redis.Redis.from_url(redis_url)
            key = runtime.bus.key  # type: ignore[attr-defined]
            # every group (the product and supplier copies too) acknowledged everything, and the stream is trimmed
            wait_until("the stream to be trimmed", lambda: client.xlen(key) == 0)
            assert all(group["pending"] == 0 for group in client.xinfo_groups(key))
            client.close()
    finally:
        for proc in procs:
            proc.terminate()
            out, _ = proc.communicate(timeout=10)
            assert PASSWORD not in out
