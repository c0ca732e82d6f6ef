"""The relational port: transactions over SQLite or PostgreSQL with one SQL style (``?`` placeholders)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from datastrata.stores.migrations import Component

_log = logging.getLogger(__name__)
Dialect = Literal["sqlite", "postgresql"]
#: The PostgreSQL channel every committed append is announced on (LISTENed to by subscriptions and workers).
NOTIFY_CHANNEL = "datastrata_eventlog"
Row = tuple[Any, ...]
Params = Sequence[Any]


class Cursor(Protocol):
    """The part of a DB-API cursor datastrata uses."""

    @property
    def rowcount(self) -> int:
        """Rows touched by the last statement."""

    def fetchone(self) -> Any:
        """Return the next row or None."""

    def fetchall(self) -> list[Any]:
        """Return the remaining rows."""


class Tx(ABC):
    """One open transaction (or one read snapshot) on a database."""

    dialect: Dialect

    def __init__(self) -> None:
        self._after_commit: list[Callable[[], None]] = []

    @abstractmethod
    def execute(self, sql: str, params: Params = ()) -> Cursor:
        """Run one statement written with ``?`` placeholders."""

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for each parameter row."""

    def defer(self, sql: str, params: Params = ()) -> None:
        """Run a write whose result nobody reads; it may be sent later, with the next statement or the commit.

        Its error, if any, is raised there (at the latest by the commit, which it then prevents), with the type it
        would have had at once. SQLite runs it at once; PostgreSQL queues it in the transaction's pipeline.
        """
        self.execute(sql, params)

    def defer_many(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one write per parameter row whose results nobody reads; sent like :meth:`defer`."""
        self.executemany(sql, rows)

    def queries(self, statements: Sequence[tuple[str, Params]]) -> list[list[Row]]:
        """Run independent queries (none needs another's answer) and return each one's rows, in order.

        PostgreSQL sends them in one round trip; they still run one after another, in this order, in the transaction.
        """
        return [self.query(sql, params) for sql, params in statements]

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a query and return every row as a tuple (both drivers' default rows are tuples already)."""
        return self.execute(sql, params).fetchall()

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """Run a query and return its first row, or None."""
        row = self.execute(sql, params).fetchone()
        return None if row is None else tuple(row)

    def scalar(self, sql: str, params: Params = ()) -> Any:
        """Run a query and return the first column of its first row, or None."""
        row = self.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def run_script(self, script: str) -> None:
        """Run a ``;``-separated DDL script inside this transaction, statement by statement."""
        for statement in split_statements(script):
            self.execute(statement)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` after this transaction commits (never if it rolls back)."""
        self._after_commit.append(callback)

    def run_after_commit(self) -> None:
        """Run the after-commit callbacks; called by the database, not by users."""
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # the transaction committed; a failed follow-up (e.g. a cache drop) must not undo that
                _log.exception("after-commit callback %r failed; the transaction stays committed", callback)


class Database(ABC):
    """A relational store reached by URL; all writes go through :meth:`transaction`."""

    dialect: Dialect
    url: str
    #: Behind a connection pooler: a URL of the server itself, for what a pooler cannot carry (LISTEN).
    direct_url: str | None = None

    def __init__(self) -> None:
        self._schemas: set[str] = set()
        self._schema_lock = threading.Lock()
        self.changed = threading.Condition()
        self.change_count = 0

    @abstractmethod
    def transaction(self, *, durable: bool = True) -> AbstractContextManager[Tx]:
        """Open a write transaction: commit on success, roll back on any exception.

        ``durable=False`` is for work that is redone after a crash (a rebuild's pages resume from their checkpoint):
        the commit is atomic as always but does not wait for the disk, so a power cut may lose the last such commits
        (effect and checkpoint together). The next durable commit makes them durable too.
        """

    @abstractmethod
    def read(self) -> AbstractContextManager[Tx]:
        """Open a read-only snapshot."""

    @abstractmethod
    def session(self) -> AbstractContextManager[Tx]:
        """Borrow a connection in autocommit mode: each statement is its own transaction (and snapshot)."""

    @abstractmethod
    def close(self) -> None:
        """Release every connection."""

    def guard_tenants(self) -> None:
        """Check every statement against the bound tenant from now on (SQLite; PostgreSQL's row-level security does)."""
        return None

    def ensure(self, component: Component) -> None:
        """Make sure `component`'s migrations are applied here (SQLite: applied now; PostgreSQL: refused if not)."""
        from datastrata.stores.migrations import ensure

        ensure(self, component)

    def ensure_schema(self, name: str, ddl: Callable[[Dialect], str]) -> None:
        """Apply ad-hoc tables (tests, scripts) at once on any dialect, once per process; needs DDL rights.

        The components of datastrata declare numbered migrations instead (:mod:`datastrata.stores.migrations`),
        which PostgreSQL applies only through ``datastrata migrate``; this is a one-step component of those.
        """
        from datastrata.stores.migrations import run_adhoc

        self.once(name, lambda: run_adhoc(self, name, ddl))

    def once(self, schema: str, check: Callable[[], object]) -> None:
        """Run `check` for `schema` once per process and database (again after a failure); see :attr:`ensured`."""
        if schema in self._schemas:
            return
        with self._schema_lock:
            if schema not in self._schemas:
                check()
                self._schemas.add(schema)

    @property
    def ensured(self) -> frozenset[str]:
        """The schemas (components) this process has checked or applied on this database so far."""
        return frozenset(self._schemas)

    def notify_changed(self) -> None:
        """Wake in-process waiters after a commit that appended events."""
        with self.changed:
            self.change_count += 1
            self.changed.notify_all()

    def wait_for_change(self, seen: int, timeout: float) -> int:
        """Block until the change counter passes `seen` or `timeout` elapses; return the counter."""
        with self.changed:
            if self.change_count == seen:
                self.changed.wait(timeout)
            return self.change_count

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def split_statements(script: str) -> list[str]:
    """Split an SQL script into complete statements (a trigger's ``BEGIN … END;`` stays one statement)."""
    statements: list[str] = []
    start = 0
    for end, char in enumerate(script):
        if char == ";" and sqlite3.complete_statement(script[start : end + 1]):
            statement = script[start : end + 1].strip()
            if statement != ";":
                statements.append(statement)
            start = end + 1
    if script[start:].strip():
        statements.append(script[start:].strip())
    return statements


def is_unique_violation(exc: BaseException) -> bool:
    """True for a unique-constraint violation on SQLite or PostgreSQL."""
    if isinstance(exc, sqlite3.IntegrityError):
        return "UNIQUE" in str(exc)
    return getattr(exc, "sqlstate", None) == "23505"


#: The SQLite form of a UTC time: fixed-width text that sorts in time order (what isoformat gives, with "Z").
_SQLITE_TIME = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"


def time_to_db(dialect: Dialect, value: datetime) -> Any:
    """Encode an aware datetime for `dialect` (SQLite: fixed-width UTC text that sorts correctly)."""
    if dialect == "sqlite":
        utc = value if value.tzinfo is UTC else value.astimezone(UTC)
        # Formatted by hand: an aware isoformat() costs about 3x as much (it asks the tzinfo for its offset).
        return _SQLITE_TIME % (utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond)
    return value


def time_from_db(value: Any) -> datetime:
    """Decode a stored time into aware UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo is UTC else value.astimezone(UTC)
    return datetime.fromisoformat(value)
