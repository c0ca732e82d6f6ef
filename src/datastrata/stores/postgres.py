"""PostgreSQL adapter: psycopg 3 with a connection pool; SQL written with ``?`` is translated once."""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from typing import Any

from datastrata.core.errors import BackendUnavailable, ConfigurationError
from datastrata.core.redact import redact_url as redact
from datastrata.core.tenancy import bound
from datastrata.stores.database import NOTIFY_CHANNEL, Cursor, Database, Params, Row, Tx
from datastrata.stores.pgbinding import binding_sql, split_pool_size, split_pooler
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
    """A transaction on one pooled connection, in psycopg's pipeline mode while `pipelined` is set.

    In a pipeline each :meth:`execute` still waits for its own result (one round trip, the statements queued before
    it included), while :meth:`defer` only queues: a write whose result nobody reads leaves with the next statement
    or with the COMMIT, and its error is raised there, before the commit, with the type it would have had.
    """

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        super().__init__()
        self.conn = conn
        self._stack = ExitStack()
        self._pipeline: psycopg.Pipeline | None = None

    @property
    def pipelined(self) -> bool:
        """True while statements are queued in pipeline mode."""
        return self._pipeline is not None

    def enter_pipeline(self) -> None:
        """Queue statements from now on (until :meth:`leave_pipeline`)."""
        self._pipeline = self._stack.enter_context(self.conn.pipeline())

    def leave_pipeline(self) -> None:
        """Send what is queued, wait for every result (raising the first error), and leave pipeline mode."""
        self._pipeline = None
        try:
            self._stack.close()
        except psycopg.OperationalError as exc:
            # When a queued statement fails, psycopg's pipeline exit raises "cannot exit pipeline mode while busy"
            # over the statement's own error (a deadlock, a lock timeout…): raise the one that says what happened.
            cause = exc.__context__
            if "pipeline mode" in str(exc) and isinstance(cause, psycopg.Error):
                raise cause from None
            raise

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        """Run one statement and wait for its result (server-side prepared after a few uses)."""
        cursor = self.conn.execute(to_pyformat(sql), params)
        if self._pipeline is not None:
            self._pipeline.sync()
        return cursor

    def queries(self, statements: Sequence[tuple[str, Params]]) -> list[list[Row]]:
        """Run independent queries in one round trip (in a pipeline; else one each) and return each one's rows."""
        if self._pipeline is None:
            return super().queries(statements)
        cursors = [self.conn.execute(to_pyformat(sql), params) for sql, params in statements]
        self._pipeline.sync()
        return [cursor.fetchall() for cursor in cursors]

    def defer(self, sql: str, params: Params = ()) -> None:
        """Queue a statement whose result is not needed: it is sent with the next statement or the COMMIT."""
        self.conn.execute(to_pyformat(sql), params)

    def defer_many(self, sql: str, rows: Iterable[Params]) -> None:
        """Queue one statement per row (in a pipeline; else run them): sent with the next statement or the COMMIT."""
        if self._pipeline is None:
            self.executemany(sql, rows)
            return
        self.conn.cursor().executemany(to_pyformat(sql), rows)  # left open: its results arrive with a later Sync

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement per row, pipelined, and wait for them."""
        with self.conn.cursor() as cur:
            cur.executemany(to_pyformat(sql), rows)
        if self._pipeline is not None:
            self._pipeline.sync()

    def run_script(self, script: str) -> None:
        """Run a DDL script in one round trip (bytes without parameters: the simple query protocol)."""
        if self._pipeline is None:
            self.conn.execute(script.encode())
            return
        self.leave_pipeline()  # several statements in one string need the simple protocol, outside a pipeline
        self.conn.execute(script.encode())
        self.enter_pipeline()


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

    def _opening(self, begin: bytes, *extra: bytes) -> list[bytes]:
        """The statements that open a transaction here: `begin`, then the binding of this context, if any."""
        binding = binding_sql(bound(), timezone=self.pooler is not None)
        return [begin, *([binding.encode()] if binding else []), *extra]

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Tx]:
        """BEGIN … COMMIT on a pooled connection, pipelined; an exception rolls back (not `durable`: no flush wait).

        BEGIN and the binding leave with the first statement; deferred writes (:meth:`PostgresTx.defer`) leave with
        the COMMIT, in one round trip; behind a pooler the COMMIT follows them in a round trip of its own (see
        :meth:`session`).
        """
        lazy = () if durable else (b"SELECT set_config('synchronous_commit', 'off', true)",)
        opening = self._opening(b"BEGIN", *lazy)
        try:
            with self.pool.connection() as conn:
                tx = PostgresTx(conn)
                with _pipelined(tx, opening, commit_alone=self.pooler is not None):
                    yield tx
        except psycopg.OperationalError as exc:
            raise BackendUnavailable(f"PostgreSQL at {redact(self.url)} failed: {exc}") from exc
        tx.run_after_commit()

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A REPEATABLE READ, READ ONLY transaction: one snapshot for all its statements (BEGIN sent with the first)."""
        opening = self._opening(b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            with self.pool.connection() as conn:
                tx = PostgresTx(conn)
                with _pipelined(tx, opening, commit_alone=self.pooler is not None):
                    yield tx
        except psycopg.OperationalError as exc:
            raise BackendUnavailable(f"PostgreSQL at {redact(self.url)} failed: {exc}") from exc

    @contextmanager
    def session(self) -> Iterator[Tx]:
        """A pooled connection in autocommit mode: one round trip per single-statement command.

        With something bound, autocommit could not carry the binding: the session is then one transaction whose
        BEGIN and binding are pipelined with its first statement, like :meth:`transaction`. Behind a pooler the
        COMMIT is sent after the pipeline ends: a pipeline ends with a Sync and then a Flush, and PgBouncer (1.18),
        having handed the server connection back at the Sync's answer when no transaction is open, takes it again
        for the Flush, which is never answered, so that client would keep the pool's server connection until it
        next speaks; inside the open transaction the Flush is harmless.
        """
        bound_now = bound()
        try:
            with self.pool.connection() as conn:
                if bound_now.empty:
                    yield PostgresTx(conn)
                    return
                tx = PostgresTx(conn)
                with _pipelined(tx, self._opening(b"BEGIN"), commit_alone=self.pooler is not None):
                    yield tx
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
def _pipelined(tx: PostgresTx, opening: Sequence[bytes], *, commit_alone: bool) -> Iterator[None]:
    """Run the block in pipeline mode after `opening` (queued), then COMMIT; ROLLBACK on any exception.

    The COMMIT is queued behind the block's deferred writes and all leave in one round trip, unless `commit_alone`
    (behind a pooler): then the pipeline ends first (its Sync sent inside the open transaction) and the COMMIT is
    a simple-protocol statement of its own, after which nothing more is sent.
    """
    conn = tx.conn
    try:
        tx.enter_pipeline()
        for statement in opening:
            conn.execute(statement)
        yield
        if commit_alone:
            tx.leave_pipeline()
            conn.execute(b"COMMIT")
        else:
            conn.execute(b"COMMIT")
            tx.leave_pipeline()  # the deferred writes and the COMMIT: the first failure is raised here
    except BaseException as exc:
        failed = isinstance(exc, psycopg.Error)
        try:
            tx.leave_pipeline()
        except psycopg.Error:
            failed = True
        _rollback(conn)
        if failed:
            _discard(conn)
        raise


def _discard(conn: psycopg.Connection[Any]) -> None:
    """Close `conn` after a statement failed in its pipeline, so the pool replaces it.

    psycopg 3.3's prepared-statement cache can lose step with the server when a pipeline fails (it names a statement
    the server does not have: "prepared statement "_pg3_5" does not exist" on a later use of the connection); a new
    connection starts both sides empty (docs/decisions.md, "A connection whose pipeline failed is replaced").
    """
    with suppress(psycopg.Error):
        conn.close()


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
