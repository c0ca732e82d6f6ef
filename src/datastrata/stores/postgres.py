"""PostgreSQL adapter: psycopg 3 with a connection pool; SQL written with ``?`` is translated once."""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from datastrata.core.errors import BackendUnavailable, ConfigurationError
from datastrata.core.redact import redact_url as redact
from datastrata.core.tenancy import bound
from datastrata.stores.database import NOTIFY_CHANNEL, Cursor, Database, Params, Tx
from datastrata.stores.pgbinding import begin_sql, binding_sql, split_pool_size, split_pooler
from datastrata.stores.postgres_probe import explain, probe

try:
    import psycopg
    from psycopg.pq import TransactionStatus
    from psycopg_pool import ConnectionPool
except ImportError as exc:  # pragma: no cover - depends on installed extras
    raise BackendUnavailable(
        "PostgreSQL support needs psycopg; install it with: pip install 'datastrata[postgres]'"
    ) from exc

_PLACEHOLDER = re.compile(r"%|\?")
#: Connections in a store's pool unless ``?pool_size=`` or the caller says otherwise.
POOL_SIZE = 8
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
    """A PostgreSQL database reached by ``postgresql://`` URL (``?pooler=pgbouncer``: through a transaction pooler).

    Each transaction carries what the context binds (:func:`datastrata.core.tenancy.bound`) in the same round trip
    as its BEGIN, as transaction-local settings; with nothing bound it is a plain BEGIN, as before.
    """

    dialect = "postgresql"
    #: Every transaction binds `bound().namespace` itself (search_path and role), in its BEGIN.
    binds_namespace = True

    def __init__(self, url: str, *, max_size: int | None = None, direct_url: str | None = None) -> None:
        super().__init__()
        self.url = url
        self.conninfo, self.pooler = split_pooler(url)
        # ``?pool_size=N`` sizes the pool when the caller does not (a silo's pool is sized by the runtime's cap).
        self.conninfo, size = split_pool_size(self.conninfo, POOL_SIZE)
        max_size = size if max_size is None else max_size
        #: A URL that reaches the server itself (not the pooler): LISTEN needs one when `pooler` is set.
        self.direct_url = direct_url
        self._announcer: Announcer | None = None
        probe(self.conninfo)  # one short attempt first: the real cause in one line, not the pool's retries
        # A transaction pooler refuses startup options and cannot keep a server-side prepared statement for us.
        kwargs: dict[str, Any] = (
            {"autocommit": True, "prepare_threshold": None}
            if self.pooler
            else {"autocommit": True, "options": "-c timezone=UTC"}
        )
        self.pool: ConnectionPool[Any] = ConnectionPool(
            self.conninfo, min_size=1, max_size=max_size, kwargs=kwargs, open=False
        )
        try:
            self.pool.open(wait=True, timeout=10)
        except Exception as exc:
            self.pool.close()
            raise BackendUnavailable(explain(self.conninfo, exc)) from exc

    def _begin(self, begin: str) -> bytes | None:
        """The BEGIN and binding statement for this context, or None for a plain one (nothing bound, no pooler)."""
        return begin_sql(begin, bound(), timezone=self.pooler is not None)

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Tx]:
        """BEGIN … COMMIT on a pooled connection; any exception rolls back (not `durable`: no WAL flush wait)."""
        begin = self._begin("BEGIN")
        try:
            with self.pool.connection() as conn:
                tx = PostgresTx(conn)
                if begin is None:
                    with conn.transaction():
                        if not durable:
                            conn.execute("SET LOCAL synchronous_commit = off")
                        yield tx
                else:
                    lazy = b"" if durable else b", set_config('synchronous_commit', 'off', true)"
                    with _bound_transaction(conn, begin + lazy):
                        yield tx
        except psycopg.OperationalError as exc:
            raise BackendUnavailable(f"PostgreSQL at {redact(self.url)} failed: {exc}") from exc
        tx.run_after_commit()

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A REPEATABLE READ, READ ONLY transaction: one snapshot for all its statements."""
        begin = self._begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            with self.pool.connection() as conn:
                conn.execute(begin or b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    yield PostgresTx(conn)
                finally:
                    conn.execute("COMMIT")
        except psycopg.OperationalError as exc:
            raise BackendUnavailable(f"PostgreSQL at {redact(self.url)} failed: {exc}") from exc

    @contextmanager
    def session(self) -> Iterator[Tx]:
        """A pooled connection in autocommit mode: one round trip per single-statement command.

        With something bound, autocommit could not carry the binding: the session is then one transaction whose
        BEGIN and binding are pipelined with its first statement. Behind a pooler they are sent first instead, as
        one simple-protocol string: a pipeline ends with a Sync and then a Flush, and PgBouncer (1.18), having
        handed the server connection back at the Sync's answer, takes it again for the Flush, which is never
        answered, so that client keeps the pool's server connection until it next speaks.
        """
        bound_now = bound()
        try:
            with self.pool.connection() as conn:
                if bound_now.empty:
                    yield PostgresTx(conn)
                    return
                if self.pooler is not None:
                    with _bound_transaction(conn, begin_sql("BEGIN", bound_now, timezone=True) or b"BEGIN"):
                        yield PostgresTx(conn)
                    return
                with _pipelined_transaction(conn, binding_sql(bound_now, timezone=False)):
                    yield PostgresTx(conn)
        except psycopg.OperationalError as exc:
            raise BackendUnavailable(f"PostgreSQL at {redact(self.url)} failed: {exc}") from exc

    def listen_url(self) -> str:
        """The URL a LISTEN connection uses: the store's own, or `direct_url` behind a pooler (else refused)."""
        if self.pooler is None:
            return self.conninfo
        if not self.direct_url:
            raise ConfigurationError(
                f"the store {redact(self.url)} is reached through {self.pooler}, which cannot carry LISTEN; "
                "set DATASTRATA_DIRECT_STORE (or direct_store in datastrata.toml) to a URL of the server itself",
                field="direct_store",
            )
        return split_pooler(self.direct_url)[0]

    def notify_changed(self) -> None:
        """Wake this process's waiters now, and other processes' through a NOTIFY sent by the announcer thread."""
        super().notify_changed()
        if self._announcer is None:
            with self._schema_lock:
                if self._announcer is None:
                    # NOTIFY is transactional, so a transaction pooler carries it; only LISTEN needs the server.
                    url = split_pooler(self.direct_url)[0] if self.direct_url else self.conninfo
                    self._announcer = Announcer(url)
        self._announcer.announce()

    def close(self) -> None:
        """Stop the announcer and close the pool."""
        if self._announcer is not None:
            self._announcer.stop()
        self.pool.close()


@contextmanager
def _bound_transaction(conn: psycopg.Connection[Any], begin: bytes) -> Iterator[None]:
    """Run `begin` (BEGIN and the binding, one simple-protocol string), then COMMIT, or ROLLBACK on any exception."""
    conn.execute(begin)
    try:
        yield
    except BaseException:
        _rollback(conn)
        raise
    conn.execute(b"COMMIT")


@contextmanager
def _pipelined_transaction(conn: psycopg.Connection[Any], binding: str) -> Iterator[None]:
    """BEGIN and the binding queued in pipeline mode, sent with the block's first statement; COMMIT at the end."""
    try:
        with conn.pipeline():
            conn.execute(b"BEGIN")
            conn.execute(binding.encode())
            yield
            conn.execute(b"COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn: psycopg.Connection[Any]) -> None:
    """Roll back what is open on `conn` (nothing if the connection is gone: the pool discards it)."""
    if conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
        with suppress(psycopg.Error):
            conn.execute(b"ROLLBACK")


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
                conn = conn or psycopg.connect(self.url, autocommit=True, prepare_threshold=None)
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
