"""PostgreSQL adapter: psycopg 3 with a connection pool; SQL written with ``?`` is translated once."""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from datastrata.core.errors import BackendUnavailable
from datastrata.core.redact import redact_url as redact
from datastrata.stores.database import NOTIFY_CHANNEL, Cursor, Database, Params, Tx
from datastrata.stores.postgres_probe import explain, probe

try:
    import psycopg
    from psycopg_pool import ConnectionPool
except ImportError as exc:  # pragma: no cover - depends on installed extras
    raise BackendUnavailable(
        "PostgreSQL support needs psycopg; install it with: pip install 'datastrata[postgres]'"
    ) from exc

_PLACEHOLDER = re.compile(r"%|\?")
_log = logging.getLogger(__name__)
# The pool logs each failed background attempt with a traceback; the probe and the pool's own error say it once.
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)


@functools.lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    """Translate ``?`` placeholders to psycopg's ``%s`` (escaping literal ``%``)."""
    return _PLACEHOLDER.sub(lambda m: "%%" if m.group() == "%" else "%s", sql)


class PostgresTx(Tx):
    """A transaction on one pooled connection."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        super().__init__()
        self.conn = conn

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        """Run one statement (server-side prepared after a few uses)."""
        return self.conn.execute(to_pyformat(sql), params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement per row, pipelined."""
        with self.conn.cursor() as cur:
            cur.executemany(to_pyformat(sql), rows)

    def run_script(self, script: str) -> None:
        """Run a DDL script in one round trip (bytes without parameters: the simple query protocol)."""
        self.conn.execute(script.encode())


class PostgresDatabase(Database):
    """A PostgreSQL database reached by ``postgresql://`` URL."""

    dialect = "postgresql"

    def __init__(self, url: str, *, max_size: int = 8) -> None:
        super().__init__()
        self.url = url
        self._announcer: Announcer | None = None
        probe(url)  # one short attempt first: the real cause in one line, not the pool's retries and tracebacks
        self.pool: ConnectionPool[Any] = ConnectionPool(
            url, min_size=1, max_size=max_size, kwargs={"autocommit": True, "options": "-c timezone=UTC"}, open=False
        )
        try:
            self.pool.open(wait=True, timeout=10)
        except Exception as exc:
            self.pool.close()
            raise BackendUnavailable(explain(url, exc)) from exc

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Tx]:
        """BEGIN … COMMIT on a pooled connection; any exception rolls back (not `durable`: no WAL flush wait)."""
        try:
            with self.pool.connection() as conn:
                tx = PostgresTx(conn)
                with conn.transaction():
                    if not durable:
                        conn.execute("SET LOCAL synchronous_commit = off")
                    yield tx
        except psycopg.OperationalError as exc:
            raise BackendUnavailable(f"PostgreSQL at {redact(self.url)} failed: {exc}") from exc
        tx.run_after_commit()

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A REPEATABLE READ, READ ONLY transaction: one snapshot for all its statements."""
        try:
            with self.pool.connection() as conn:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    yield PostgresTx(conn)
                finally:
                    conn.execute("COMMIT")
        except psycopg.OperationalError as exc:
            raise BackendUnavailable(f"PostgreSQL at {redact(self.url)} failed: {exc}") from exc

    @contextmanager
    def session(self) -> Iterator[Tx]:
        """A pooled connection in autocommit mode: one round trip per single-statement command."""
        try:
            with self.pool.connection() as conn:
                yield PostgresTx(conn)
        except psycopg.OperationalError as exc:
            raise BackendUnavailable(f"PostgreSQL at {redact(self.url)} failed: {exc}") from exc

    def notify_changed(self) -> None:
        """Wake this process's waiters now, and other processes' through a NOTIFY sent by the announcer thread."""
        super().notify_changed()
        if self._announcer is None:
            with self._schema_lock:
                if self._announcer is None:
                    self._announcer = Announcer(self.url)
        self._announcer.announce()

    def close(self) -> None:
        """Stop the announcer and close the pool."""
        if self._announcer is not None:
            self._announcer.stop()
        self.pool.close()


class Announcer:
    """Sends ``NOTIFY`` for committed appends from its own thread and connection, coalescing bursts.

    A NOTIFY inside the writing transaction would hold PostgreSQL's notify lock through that transaction's commit
    flush and serialise every writer; sent afterwards, by itself, it commits without a flush, and writers only pay
    for setting an event. After each NOTIFY the thread rests `interval` seconds, so a busy writer causes at most one
    NOTIFY per interval (a round trip per append would cost a third of a single writer's throughput) while an
    isolated append is still announced at once.
    """

    def __init__(self, url: str, *, interval: float = 0.005) -> None:
        self.url = url
        self.interval = interval
        self._pending = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="datastrata-notify", daemon=True)
        self._thread.start()

    def announce(self) -> None:
        """Ask for one NOTIFY soon (several requests before it is sent make one)."""
        self._pending.set()

    def _run(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        while True:
            self._pending.wait()
            self._pending.clear()
            try:
                conn = conn or psycopg.connect(self.url, autocommit=True)
                conn.execute("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))
            except psycopg.Error as exc:
                _log.warning(
                    "could not NOTIFY %s (%s); followers notice new events at their next poll", NOTIFY_CHANNEL, exc
                )
                if conn is not None:
                    conn.close()
                conn = None
            if self._stopped:
                break
            time.sleep(self.interval)
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        """Send what is pending, then end the thread."""
        self._stopped = True
        self._pending.set()
        self._thread.join(timeout=5)
