"""Group commit on SQLite: concurrent commands share one COMMIT, each in its own savepoint, none told done early.

A group is formed on purpose by holding the writer inside one command's body while others queue behind it (the
committer's ``queued`` count says when they have), so which commands share a group is not left to timing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import (
    ConcurrencyConflict,
    ConfigurationError,
    RuleViolation,
    TenantIsolationError,
    ValidationError,
)
from datastrata.core.events import NewEvent
from datastrata.core.tenancy import platform, tenant
from datastrata.runtime import Runtime, Scope
from datastrata.stores.group_commit import GroupCommitter
from datastrata.stores.open import open_database
from datastrata.stores.sqlite import SqliteDatabase
from datastrata.systems.portfolio.service import PortfolioService
from datastrata.writes.idempotency import event_id_for

ROOT = Path(__file__).parents[2]
CHILD = Path(__file__).with_name("group_commit_child.py")


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    # A group formed behind a holder must not close for its age on a loaded host (the default wait is 25 ms).
    store = f"sqlite:///{tmp_path}/group.db?group_wait_ms=60000"
    settings = Settings(store=store, graph=f"ladybug:///{tmp_path}/graph")
    with Runtime.open(settings) as opened:
        yield opened


def _store(runtime: Runtime) -> SqliteDatabase:
    db = runtime.db
    assert isinstance(db, SqliteDatabase) and db.group is not None  # on by default
    return db


class Background:
    """A command run on a thread of its own: its result or its exception."""

    def __init__(self, command: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(command,))
        self.thread.start()

    def _run(self, command: Callable[[], Any]) -> None:
        try:
            self.result = command()
        except BaseException as exc:
            self.error = exc

    def join(self) -> Any:
        self.thread.join(30)
        assert not self.thread.is_alive(), "the command never returned"
        return self.result


def _run_clients(count: int, client: Callable[[int], None]) -> None:
    """Run `client(k)` on `count` threads at once and wait for them all; none may fail."""
    clients = [Background(lambda k=k: client(k)) for k in range(count)]
    for c in clients:
        c.join()
        assert c.error is None, c.error


def _wait_queued(group: GroupCommitter, count: int) -> None:
    deadline = time.monotonic() + 10
    while group.queued < count:
        assert time.monotonic() < deadline, f"{count} commands never queued for the writer"
        time.sleep(0.002)


class Holder:
    """A command that appends to its scope and then holds the writer until released: the others queue behind it."""

    def __init__(self, runtime: Runtime, scope: Scope) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()
        self.committed = threading.Event()

        def hold() -> int:
            with runtime.transaction(scope) as work:
                version = work.append([NewEvent("Held", {})]).version
                self.inside.set()
                assert self.release.wait(30)
            self.committed.set()
            return version

        self.background = Background(hold)
        assert self.inside.wait(10)


def _group(runtime: Runtime, holder_scope: Scope, *commands: Callable[[], Any]) -> tuple[Holder, list[Background]]:
    """Run `commands` in one group behind a holder, in this order; return them once all returned."""
    group = _store(runtime).group
    assert group is not None
    holder = Holder(runtime, holder_scope)
    started: list[Background] = []
    for n, command in enumerate(commands, start=1):
        started.append(Background(command))
        _wait_queued(group, n)
    holder.release.set()
    holder.background.join()
    for b in started:
        b.join()
    return holder, started


def _commits(runtime: Runtime) -> int:
    return _store(runtime).commit_counts.commits


def test_a_failing_command_rolls_back_to_its_savepoint_alone_and_is_refused(runtime: Runtime) -> None:
    service = PortfolioService(runtime)
    service.deposit("p-rich", "100.00")
    before = _commits(runtime)

    def writes_then_fails() -> None:
        with runtime.transaction(Scope("portfolio", "p-broken")) as work:
            work.append([NewEvent("Deposited", {"amount": "5"})])
            raise ValidationError("amount: refused after writing", field="amount")

    holder, (overdraw, broken, deposit) = _group(
        runtime,
        Scope("portfolio", "p-holder"),
        lambda: service.withdraw("p-rich", "500.00"),  # the rule is checked before writing
        writes_then_fails,
        lambda: service.deposit("p-rich", "7.00"),
    )
    assert isinstance(overdraw.error, RuleViolation) and "holds only 100.00" in str(overdraw.error)
    assert isinstance(broken.error, ValidationError) and "refused after writing" in str(broken.error)
    assert deposit.error is None and holder.background.error is None
    assert _commits(runtime) == before + 1  # the holder and the deposit: one COMMIT
    assert runtime.version(Scope("portfolio", "p-broken")) == 0  # nothing of the failed command
    assert service.state("p-rich").cash == Decimal("107.00")
    assert runtime.version(Scope("portfolio", "p-holder")) == 1


def test_group_mates_see_each_other_s_effects_in_the_order_they_were_applied(runtime: Runtime) -> None:
    scope = Scope("portfolio", "p-shared")
    before = _commits(runtime)
    _, appends = _group(
        runtime,
        scope,  # the holder appends version 1 of the same stream
        lambda: runtime.append(scope, [NewEvent("Second", {})], expected_version=1),
        lambda: runtime.append(scope, [NewEvent("Third", {})], expected_version=2),
    )
    assert [a.error for a in appends] == [None, None]
    events = runtime.stream(scope)
    assert [(e.type, e.version) for e in events] == [("Held", 1), ("Second", 2), ("Third", 3)]
    assert events[0].position < events[1].position < events[2].position
    assert _commits(runtime) == before + 1


def test_two_commands_at_one_expected_version_in_a_group_one_wins_one_conflicts(runtime: Runtime) -> None:
    scope = Scope("portfolio", "p-race")
    runtime.append(scope, [NewEvent("Opened", {})], expected_version=0)
    before = _commits(runtime)
    _, (first, second) = _group(
        runtime,
        Scope("portfolio", "p-elsewhere"),
        lambda: runtime.append(scope, [NewEvent("Won", {})], expected_version=1),
        lambda: runtime.append(scope, [NewEvent("Lost", {})], expected_version=1),
    )
    assert first.error is None and first.result.version == 2
    assert isinstance(second.error, ConcurrencyConflict) and "not the expected 1" in str(second.error)
    assert [e.type for e in runtime.stream(scope)] == ["Opened", "Won"]
    assert _commits(runtime) == before + 1


def test_a_groups_first_command_fails_after_writing_and_those_queued_behind_it_commit(runtime: Runtime) -> None:
    service = PortfolioService(runtime)
    group = _store(runtime).group
    assert group is not None
    before = _commits(runtime)
    inside, release = threading.Event(), threading.Event()

    def writes_holds_then_fails() -> None:  # the group's first member: it runs without a savepoint of its own
        with runtime.transaction(Scope("portfolio", "p-first")) as work:
            work.append([NewEvent("Deposited", {"amount": "5"})])
            inside.set()
            assert release.wait(30)
            raise ValidationError("amount: refused after writing", field="amount")

    first = Background(writes_holds_then_fails)
    assert inside.wait(10)
    behind = [Background(lambda k=k: service.deposit(f"p-behind-{k}", "1.00")) for k in range(3)]
    _wait_queued(group, 3)
    release.set()
    first.join()
    for b in behind:
        b.join()
        assert b.error is None
    assert isinstance(first.error, ValidationError)
    assert runtime.version(Scope("portfolio", "p-first")) == 0  # rolled back with its group, nobody else in it
    assert [len(service.events(f"p-behind-{k}")) for k in range(3)] == [1, 1, 1]
    assert _commits(runtime) == before + 1  # the three queued behind it: one group, one COMMIT


def test_an_idempotency_key_used_twice_in_one_group_is_one_command(runtime: Runtime) -> None:
    service = PortfolioService(runtime)
    before = _commits(runtime)
    _, (first, twin, other) = _group(
        runtime,
        Scope("portfolio", "p-holder"),
        lambda: service.deposit("p-keyed", "5.00", event_id="k-1"),
        lambda: service.deposit("p-keyed", "5.00", event_id="k-1"),
        lambda: service.deposit("p-keyed", "6.00", event_id="k-1"),
    )
    assert first.error is None and twin.error is None
    assert not first.result.duplicate and twin.result.duplicate
    assert twin.result.event.event_id == first.result.event.event_id
    assert isinstance(other.error, RuleViolation) and "already used" in str(other.error)
    assert len(service.events("p-keyed")) == 1 and service.state("p-keyed").cash == Decimal("5.00")
    assert _commits(runtime) == before + 1


def test_a_lone_command_commits_at_once_and_is_durable_when_it_returns(runtime: Runtime, tmp_path: Path) -> None:
    service = PortfolioService(runtime)
    other = open_database(f"sqlite:///{tmp_path}/group.db")  # another connection: sees only what is committed
    try:
        before = _commits(runtime)
        for n in range(1, 21):
            service.deposit("p-alone", "1.00")
            assert _commits(runtime) == before + n  # its own COMMIT, not held for company
            with other.read() as tx:
                assert tx.scalar("SELECT count(*) FROM eventlog_events WHERE stream_id = 'portfolio-p-alone'") == n
    finally:
        other.close()


def test_sixteen_concurrent_clients_share_commits(runtime: Runtime) -> None:
    service = PortfolioService(runtime)
    for k in range(16):
        service.deposit(f"p-{k}", "1.00")
    counts = _store(runtime).commit_counts
    commits, transactions = counts.commits, counts.transactions
    start = threading.Barrier(16)

    def client(k: int) -> None:
        start.wait()
        for _ in range(25):
            service.deposit(f"p-{k}", "1.00")

    _run_clients(16, client)
    assert counts.transactions - transactions == 400
    assert (counts.commits - commits) / 400 <= 0.25
    assert all(service.state(f"p-{k}").cash == Decimal("26.00") for k in range(16))


def test_nested_use_is_refused_and_reads_inside_see_the_command_s_writes(runtime: Runtime) -> None:
    db = _store(runtime)
    scope = Scope("portfolio", "p-inner")
    with runtime.transaction(scope) as work:
        work.append([NewEvent("Opened", {})])
        with pytest.raises(RuntimeError, match="nested transaction"), db.transaction():
            pass
        with db.read() as tx:  # this thread's reads run in its open command
            assert tx.scalar("SELECT count(*) FROM eventlog_events WHERE stream_id = 'portfolio-p-inner'") == 1
    with db.transaction(durable=False) as tx:  # not durable: its own group at synchronous=NORMAL
        tx.execute("CREATE TABLE IF NOT EXISTS scratch (n INTEGER)")
    with db.transaction() as tx:  # a durable command after it: a FULL group again
        tx.execute("INSERT INTO scratch VALUES (1)")
    with db.read() as tx:
        assert tx.scalar("SELECT count(*) FROM scratch") == 1
        assert tx.scalar("PRAGMA synchronous") == 2  # FULL on the readers


def test_after_commit_callbacks_run_after_the_group_s_commit(runtime: Runtime, tmp_path: Path) -> None:
    other = open_database(f"sqlite:///{tmp_path}/group.db")
    seen: list[int] = []

    def command() -> None:
        with runtime.transaction(Scope("portfolio", "p-hooked")) as work:
            work.append([NewEvent("Hooked", {})])

            def check() -> None:
                with other.read() as tx:
                    seen.append(
                        tx.scalar("SELECT count(*) FROM eventlog_events WHERE stream_id = 'portfolio-p-hooked'")
                    )

            work.on_commit(check)

    try:
        after = lambda: runtime.append(Scope("portfolio", "p-after"), [NewEvent("After", {})])  # noqa: E731
        _, (hooked, _) = _group(runtime, Scope("portfolio", "p-holder"), command, after)  # `after` commits the group
        assert hooked.error is None and seen == [1]  # run once the COMMIT made it visible to everyone
    finally:
        other.close()


def test_the_tenant_guard_checks_each_member_under_its_own_tenant(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/guarded.db?tenant_guard=on")
    assert isinstance(db, SqliteDatabase) and db.group is not None
    try:
        with tenant("acme"), db.transaction() as tx:
            tx.execute("CREATE TABLE notes (tenant_id TEXT NOT NULL, body TEXT NOT NULL)")
        inside, release = threading.Event(), threading.Event()

        def as_tenant(who: str, row_tenant: str, *, hold: bool = False) -> Callable[[], None]:
            def write() -> None:
                with tenant(who), db.transaction() as tx:
                    tx.execute("INSERT INTO notes VALUES (?, ?)", (row_tenant, f"by {who}"))
                    if hold:
                        inside.set()
                        assert release.wait(30)

            return write

        holder = Background(as_tenant("acme", "acme", hold=True))
        assert inside.wait(10)
        spoof = Background(as_tenant("beta", "acme"))
        _wait_queued(db.group, 1)
        honest = Background(as_tenant("beta", "beta"))
        _wait_queued(db.group, 2)
        release.set()
        for b in (holder, spoof, honest):
            b.join()
        assert holder.error is None and honest.error is None
        assert isinstance(spoof.error, TenantIsolationError)
        with platform(), db.read() as tx:
            assert sorted(tx.query("SELECT tenant_id, body FROM notes")) == [("acme", "by acme"), ("beta", "by beta")]
    finally:
        db.close()


def test_group_commit_can_be_turned_off_and_its_options_are_checked(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/solo.db?group_commit=off")
    assert isinstance(db, SqliteDatabase) and db.group is None
    try:
        with db.transaction() as tx:
            tx.execute("CREATE TABLE t (n INTEGER)")
        start = threading.Barrier(4)

        def client(k: int) -> None:
            start.wait()
            for n in range(10):
                with db.transaction() as tx:
                    tx.execute("INSERT INTO t VALUES (?)", (k * 10 + n,))

        _run_clients(4, client)
        assert db.commit_counts.commits == db.commit_counts.transactions == 41  # one each
    finally:
        db.close()
    for option, field in (("group_commit=maybe", "group_commit"), ("group_size=0", "group_size")):
        with pytest.raises(ConfigurationError, match=field):
            open_database(f"sqlite:///{tmp_path}/bad.db?{option}")
    with pytest.raises(ConfigurationError, match="group_wait_ms"):
        open_database(f"sqlite:///{tmp_path}/bad.db?group_wait_ms=soon")


def test_a_kill_during_groups_loses_no_acknowledged_command_and_leaves_no_half_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/crash.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), url, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    assert proc.stdout is not None
    acked: set[tuple[int, int]] = set()
    while len(acked) < 300:
        line = proc.stdout.readline()
        assert line, f"the child ended after {len(acked)} acknowledgements"
        if line.startswith("ack "):
            _, k, i = line.split()
            acked.add((int(k), int(i)))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    settings = Settings(store=url, graph=f"ladybug:///{tmp_path}/graph")
    with Runtime.open(settings) as runtime:
        service = PortfolioService(runtime)
        with runtime.db.read() as tx:
            claims = {
                str(k) for (k,) in tx.query("SELECT key FROM idempotency_keys WHERE command = 'portfolio.deposit'")
            }
        stored: set[str] = set()
        for k in range(8):
            events = service.events(f"p-{k}")
            assert [e.version for e in events] == list(range(1, len(events) + 1))
            assert service.state(f"p-{k}").cash == Decimal(len(events))  # every event is one whole deposit
            stored |= {e.event_id for e in events}
    # Every acknowledged command is there, and each stored command is whole: its event and its key together.
    assert {_deposit_id(f"{k}-{i}") for k, i in acked} <= stored
    assert stored == {_deposit_id(key) for key in claims}


def _deposit_id(key: str) -> str:
    return event_id_for("default", "portfolio.deposit", key)


def test_sixteen_concurrent_commands_on_postgresql_are_in_flight_at_once(pg_url: str, tmp_path: Path) -> None:
    """PostgreSQL keeps one transaction per command: nothing of ours (a lock, a pool too small) serialises them."""
    with pytest.raises(ConfigurationError, match="pool_size"):
        open_database(f"{pg_url}?pool_size=none")
    settings = Settings(store=f"{pg_url}?pool_size=16", graph=f"ladybug:///{tmp_path}/graph")
    with Runtime.open(settings) as runtime:
        service = PortfolioService(runtime)
        all_open = threading.Barrier(16, timeout=30)  # broken (an error) unless 16 transactions are open together

        def client(k: int) -> None:
            scope = Scope("portfolio", f"pg-{k}")
            with runtime.transaction(scope) as work:
                work.append([NewEvent("Opened", {})], expected_version=0)
                all_open.wait()
            for _ in range(5):
                service.deposit(f"pg-{k}", "1.00")

        _run_clients(16, client)
        assert all(runtime.version(Scope("portfolio", f"pg-{k}")) == 6 for k in range(16))
