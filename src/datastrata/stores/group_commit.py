"""Group commit: one process's concurrent SQLite transactions share one writer connection and one COMMIT per group.

Each transaction takes the writer in turn (first come, first served) and runs inside its own SAVEPOINT of the
group's ``BEGIN IMMEDIATE`` transaction (the first needs none: its rollback is the group's), so it sees the effects
of the group's earlier members in the order they were applied, and a failing one rolls back to its savepoint alone
and is refused at once. The member that leaves the writer with nobody queued for it (or the group full, or older
than its wait) commits the group; every member waits for that COMMIT before it returns and only then runs its
after-commit callbacks. A lone transaction thus commits as soon as its body ends, exactly as without groups; under
load, the commands that queue during one group's flush make up the next group.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from datastrata.core.errors import BackendUnavailable

#: The savepoint each member of a group runs in.
_SAVEPOINT = "ds_command"
#: Levels that flush no more when a transaction is not durable (``durable=False`` lowers FULL and EXTRA to NORMAL).
_UNFLUSHED = ("OFF", "NORMAL")

#: Prepares the writer connection for a command: given the schema version it was last prepared at, returns the new one.
Prepare = Callable[[sqlite3.Connection, int | None], int | None]


@dataclass(eq=False)
class _Group:
    """One group transaction: its flush level, when it began, its members, and how its COMMIT ended."""

    level: str
    started: float
    members: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    error: BackendUnavailable | None = None


@dataclass
class CommitCounts:
    """How many COMMITs a database issued and how many transactions they made durable (read by tests, benchmarks)."""

    commits: int = 0
    transactions: int = 0

    @property
    def per_transaction(self) -> float:
        """COMMITs per committed transaction (1.0 without grouping; 1/16 for groups of sixteen)."""
        return self.commits / self.transactions if self.transactions else 0.0


class GroupCommitter:
    """The writer connection of one SQLite database and the group transaction open on it."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        path: Path,
        synchronous: str,
        max_size: int,
        max_wait: float,
        counts: CommitCounts,
        counts_lock: threading.Lock,
    ) -> None:
        self._connect = connect
        self.path = path
        self.synchronous = synchronous
        self.max_size = max_size
        self.max_wait = max_wait
        self.counts = counts
        self._counts_lock = counts_lock
        self._reset()

    def _reset(self) -> None:
        """Start from nothing: no connection, no group, nobody holding or waiting for the writer (also after a fork)."""
        self._pid = os.getpid()
        self._mutex = threading.Lock()
        self._busy = False
        self._queue: deque[threading.Lock] = deque()
        self._conn: sqlite3.Connection | None = None
        self._level = self.synchronous
        self._group: _Group | None = None
        self._prepared: int | None = None
        self._active = threading.local()

    @property
    def queued(self) -> int:
        """How many transactions wait for the writer now."""
        with self._mutex:
            return len(self._queue)

    def active(self) -> object | None:
        """The transaction this thread is running on the writer now (None: none)."""
        return getattr(self._active, "tx", None) if self._pid == os.getpid() else None

    @contextmanager
    def member(self, durable: bool, prepare: Prepare) -> Iterator[sqlite3.Connection]:
        """Run the block as one member of a group on the writer connection; return once its group has committed.

        The block's statements run in the member's savepoint; `prepare` readies the connection first (the tenant
        guard's triggers). Any exception rolls the member back to its savepoint and is re-raised at once.
        """
        if self._pid != os.getpid():
            self._reset()  # a forked child never uses its parent's connection or waits for its parent's threads
        self._acquire()
        try:
            conn, group, first = self._join(durable)
            self._prepared = prepare(conn, self._prepared)
            if not first:
                conn.execute(f"SAVEPOINT {_SAVEPOINT}")
        except BaseException:
            self._leave()
            raise
        try:
            yield conn
            if not first:
                conn.execute(f"RELEASE {_SAVEPOINT}")
        except BaseException:
            self._undo(conn, group, first)
            self._leave()
            raise
        group.members += 1
        self._leave()
        group.done.wait()
        if group.error is not None:
            raise group.error

    def mark(self, tx: object | None) -> None:
        """Record `tx` as this thread's transaction on the writer (None: it ended)."""
        self._active.tx = tx

    def _acquire(self) -> None:
        """Take the writer, waiting in line behind the transactions already queued for it."""
        with self._mutex:
            if not self._busy:
                self._busy = True
                return
            turn = threading.Lock()
            turn.acquire()
            self._queue.append(turn)
        turn.acquire()  # released by the holder as it hands the writer over: it is ours now

    def _hand_over(self) -> None:
        """Give the writer to the first in line, or free it (called with the mutex held)."""
        if self._queue:
            self._queue.popleft().release()
        else:
            self._busy = False

    def _join(self, durable: bool) -> tuple[sqlite3.Connection, _Group, bool]:
        """The connection, the open group this command joins (begun now if none is open or it flushes less), and
        whether it begins that group: a group's first member needs no savepoint, its rollback is the group's."""
        conn = self._conn
        if conn is None:
            conn = self._conn = self._connect()
            self._prepared, self._level = None, self.synchronous
        level = self.synchronous if durable or self.synchronous in _UNFLUSHED else "NORMAL"
        group = self._group
        if group is not None and durable and group.level != self.synchronous:
            self._group = None  # a durable command never joins a group whose COMMIT does not flush
            self._end(conn, group)
            group = None
        if group is None:
            if self._level != level:
                conn.execute(f"PRAGMA synchronous={level}")  # only between transactions
                self._level = level
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise BackendUnavailable(f"SQLite database {self.path} is not writable now: {exc}") from exc
            group = self._group = _Group(level, time.monotonic())
            return conn, group, True
        return conn, group, False

    def _undo(self, conn: sqlite3.Connection, group: _Group, first: bool) -> None:
        """Roll a failed member back (to its savepoint; the first, the group); fail the others if SQLite undid all."""
        try:
            if first:  # nobody else has joined yet: the group's own rollback is the member's
                conn.execute("ROLLBACK")
            else:
                conn.execute(f"ROLLBACK TO {_SAVEPOINT}")
                conn.execute(f"RELEASE {_SAVEPOINT}")
        except sqlite3.Error:
            if conn.in_transaction:  # the member's effects could not be undone alone: the group must not commit
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
        if not conn.in_transaction:
            self._group = None
            self._prepared = None
            group.error = BackendUnavailable(
                f"SQLite rolled back a group transaction of {self.path} when one of its commands failed; "
                "nothing of this command was written: retry it"
            )
            group.done.set()

    def _leave(self) -> None:
        """End this command's turn: commit the group if nobody is queued (or it is full or old), then hand over."""
        with self._mutex:
            group = self._group
            due = group is not None and (
                not self._queue or group.members >= self.max_size or time.monotonic() - group.started >= self.max_wait
            )
            if not due:
                self._hand_over()
                return
            self._group = None
        try:
            assert group is not None and self._conn is not None
            self._end(self._conn, group)
        finally:
            with self._mutex:
                self._hand_over()

    def _end(self, conn: sqlite3.Connection, group: _Group) -> None:
        """COMMIT `group` (ROLLBACK one with no member left) and wake its members with the outcome."""
        try:
            if group.members == 0:
                conn.execute("ROLLBACK")
                self._prepared = None  # the guard's TEMP triggers made in it are gone
                return
            conn.execute("COMMIT")
            with self._counts_lock:
                self.counts.commits += 1
                self.counts.transactions += group.members
        except BaseException as exc:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            self._prepared = None
            group.error = BackendUnavailable(
                f"the COMMIT of a group of {group.members} commands on SQLite database {self.path} failed: {exc}; "
                "none of them was written: retry"
            )
            if not isinstance(exc, Exception):
                raise
        finally:
            group.done.set()

    def close(self) -> None:
        """Close the writer connection if nobody is using it (a busy one closes when the database is dropped)."""
        with self._mutex:
            if self._busy or self._conn is None or self._pid != os.getpid():
                return
            conn, self._conn = self._conn, None
            self._group, self._prepared = None, None
        with suppress(sqlite3.ProgrammingError):
            conn.close()
