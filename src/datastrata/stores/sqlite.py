"""SQLite adapter: WAL, ``synchronous=FULL`` unless configured, group commit, one reader connection per thread.

Writes share one writer connection through :mod:`datastrata.stores.group_commit` (``?group_commit=off``: each
transaction BEGIN IMMEDIATE … COMMIT on its thread's own connection instead); reads and sessions use the calling
thread's connection, or the writer's open transaction when the thread is inside one.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from datastrata.core.config import sqlite_path
from datastrata.core.errors import BackendUnavailable, ConfigurationError
from datastrata.stores.database import Cursor, Database, Params, Tx
from datastrata.stores.group_commit import CommitCounts, GroupCommitter
from datastrata.stores.sqlite_guard import TenantGuard, refused

_SYNC_LEVELS = {"OFF", "NORMAL", "FULL", "EXTRA"}
#: The bounds of a commit group unless the URL says otherwise: members, and milliseconds since its first began.
GROUP_SIZE, GROUP_WAIT_MS = 64, 25
sqlite3.register_adapter(Decimal, str)


class SqliteTx(Tx):
    """A transaction on one SQLite connection (checked by the tenant guard when the database has one)."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, guard: TenantGuard | None = None) -> None:
        super().__init__()
        self.conn = conn
        self.guard = guard

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        """Run one statement."""
        if self.guard is None:
            return self.conn.execute(sql, params)
        self.guard.check(self.conn, sql, params)
        try:
            return self.conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise refused(exc) or exc from None

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement per row."""
        if self.guard is None:
            self.conn.executemany(sql, rows)
            return
        checked = self.guard.check_many(self.conn, sql, rows)
        try:
            self.conn.executemany(sql, checked)
        except sqlite3.IntegrityError as exc:
            raise refused(exc) or exc from None


class SqliteDatabase(Database):
    """An SQLite file; safe to share between threads (each thread gets its own connection)."""

    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.path = sqlite_path(url)
        query = parse_qs(urlsplit(url).query)
        self.synchronous = query.get("synchronous", ["FULL"])[0].upper()
        if self.synchronous not in _SYNC_LEVELS:
            raise ConfigurationError(
                f"synchronous={self.synchronous!r} in {url!r} is not one of {sorted(_SYNC_LEVELS)}"
            )
        self.guard_mode = query.get("tenant_guard", ["auto"])[0].lower()
        if self.guard_mode not in ("auto", "on", "off"):
            raise ConfigurationError(
                f"tenant_guard={self.guard_mode!r} in {url!r} must be auto (the default: on once the store holds "
                "several tenants), on (from the start, refusing statements with no tenant bound too) or off",
                field="store",
            )
        #: Checks each statement against the bound tenant (``auto``: turned on once the store holds several tenants).
        self.guard: TenantGuard | None = TenantGuard(strict=True) if self.guard_mode == "on" else None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: dict[int, tuple[threading.Thread, sqlite3.Connection]] = {}
        self._lock = threading.Lock()
        #: COMMITs issued and the transactions they made durable (grouped or not).
        self.commit_counts = CommitCounts()
        self._counts_lock = threading.Lock()
        #: The shared writer of group commit (None with ``?group_commit=off``).
        self.group: GroupCommitter | None = _group_committer(self, query)

    def _open(self) -> sqlite3.Connection:
        """A new connection with the store's pragmas."""
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error as exc:
            raise BackendUnavailable(f"cannot open SQLite database {self.path}: {exc}") from exc
        return conn

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            self._local.guarded = None
            with self._lock:
                self._close_orphans()
                self._all[id(conn)] = (threading.current_thread(), conn)
        if self.guard is not None:
            self._local.guarded = self.guard.attach(conn, self._local.guarded)
        return conn

    def guard_tenants(self) -> None:
        """Turn the tenant guard on for every connection of this database (it stays on; not with ``tenant_guard=off``).

        This guard checks the statements run for a bound tenant; ``?tenant_guard=on`` also refuses those run with
        nothing bound.
        """
        if self.guard is None and self.guard_mode != "off":
            with self._lock:
                if self.guard is None:
                    self.guard = TenantGuard(strict=False)

    def _tx(self, conn: sqlite3.Connection) -> SqliteTx:
        return SqliteTx(conn, self.guard)

    def _close_orphans(self) -> None:
        """Close the connections of threads that have ended (nobody can be using them)."""
        for key, (thread, conn) in list(self._all.items()):
            if not thread.is_alive():
                with suppress(sqlite3.ProgrammingError):
                    conn.close()
                del self._all[key]

    def _prepare_writer(self, conn: sqlite3.Connection, seen: int | None) -> int | None:
        """Give the writer connection the tenant guard's triggers (when guarded); the schema version they match."""
        return seen if self.guard is None else self.guard.attach(conn, seen)

    def _nested(self) -> bool:
        """True when this thread already has a transaction (or snapshot) open on this database."""
        own: sqlite3.Connection | None = getattr(self._local, "conn", None)
        return (own is not None and own.in_transaction) or (self.group is not None and self.group.active() is not None)

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Tx]:
        """One command's transaction: a member of a commit group, or BEGIN IMMEDIATE … COMMIT with groups off.

        Any exception rolls the command back (its savepoint in a group) and is raised; success returns only once
        the COMMIT that made it durable is done (not `durable`: ``synchronous=NORMAL`` for it).
        """
        if self._nested():
            raise RuntimeError("nested transaction on the same thread; pass the open Tx down instead")
        if self.group is not None:
            with self._grouped(self.group, durable) as tx:
                yield tx
            return
        conn = self._connection()
        if durable or self.synchronous in ("OFF", "NORMAL"):
            with self._transaction(conn) as tx:
                yield tx
            return
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL: the commit is atomic, its fsync waits for a checkpoint
        try:
            with self._transaction(conn) as tx:
                yield tx
        finally:
            conn.execute(f"PRAGMA synchronous={self.synchronous}")

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[Tx]:
        tx = self._tx(conn)
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise BackendUnavailable(f"SQLite database {self.path} is not writable now: {exc}") from exc
        try:
            yield tx
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        with self._counts_lock:
            self.commit_counts.commits += 1
            self.commit_counts.transactions += 1
        tx.run_after_commit()

    @contextmanager
    def _grouped(self, group: GroupCommitter, durable: bool) -> Iterator[Tx]:
        """A member of a commit group: its savepoint on the writer, then its group's COMMIT, then its callbacks."""
        tx: SqliteTx | None = None
        with group.member(durable, self._prepare_writer) as conn:
            tx = self._tx(conn)
            group.mark(tx)
            try:
                yield tx
            finally:
                group.mark(None)
        assert tx is not None
        tx.run_after_commit()

    def _writing(self) -> Tx | None:
        """The transaction this thread has open on the writer (its reads and sessions run in it), or None."""
        active = None if self.group is None else self.group.active()
        return active if isinstance(active, Tx) else None

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A deferred transaction: one consistent snapshot for all its statements."""
        writing = self._writing()
        if writing is not None:
            yield writing
            return
        conn = self._connection()
        if conn.in_transaction:
            yield self._tx(conn)
            return
        conn.execute("BEGIN")
        try:
            yield self._tx(conn)
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    @contextmanager
    def session(self) -> Iterator[Tx]:
        """This thread's connection, outside any transaction (SQLite autocommits each statement)."""
        writing = self._writing()
        yield writing if writing is not None else self._tx(self._connection())

    def close(self) -> None:
        """Close this thread's connection and those of ended threads; others close when their thread lets go.

        Closing a connection another thread is executing on can crash the sqlite3 module, so a live thread's
        connection is only dropped from here: it is closed when that thread's last reference to it goes away.
        """
        with self._lock:
            mine = getattr(self._local, "conn", None)
            self._close_orphans()
            if mine is not None:
                with suppress(sqlite3.ProgrammingError):
                    mine.close()
            self._all.clear()
        self._local = threading.local()
        if self.group is not None:
            self.group.close()

    @property
    def file(self) -> Path:
        """The database file."""
        return self.path


def _group_committer(db: SqliteDatabase, query: dict[str, list[str]]) -> GroupCommitter | None:
    """The group committer the URL's ``group_commit``, ``group_size`` and ``group_wait_ms`` ask for (on by default)."""
    mode = query.get("group_commit", ["on"])[0].lower()
    if mode not in ("on", "off"):
        raise ConfigurationError(
            f"group_commit={mode!r} in {db.url!r} must be on (the default: concurrent commands share commits) or off "
            "(each command commits on its own)",
            field="store",
        )
    size = _positive(db.url, query, "group_size", GROUP_SIZE)
    wait_ms = _positive(db.url, query, "group_wait_ms", GROUP_WAIT_MS)
    if mode == "off":
        return None
    return GroupCommitter(
        db._open,
        path=db.path,
        synchronous=db.synchronous,
        max_size=size,
        max_wait=wait_ms / 1000,
        counts=db.commit_counts,
        counts_lock=db._counts_lock,
    )


def _positive(url: str, query: dict[str, list[str]], name: str, default: int) -> int:
    """The whole number ≥ 1 the URL gives for `name` (else `default`), refusing anything else."""
    raw = query.get(name, [str(default)])[0]
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(
            f"{name}={raw!r} in {url!r} must be a whole number of at least 1 (e.g. {name}={default})", field="store"
        )
    return int(raw)
