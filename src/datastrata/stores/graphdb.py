"""LadybugDB adapter: open by path or ``ladybug:///path`` URL, parameterised Cypher, one writer and many readers."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from datastrata.core.errors import (
    BackendUnavailable,
    ConfigurationError,
    DatastrataError,
    NotFound,
    ValidationError,
)
from datastrata.stores import graphfiles

Params = Mapping[str, Any]
Row = tuple[Any, ...]
_T = TypeVar("_T")

#: LadybugDB's (Kùzu's) setting; ``CALL checkpoint_threshold=…`` at runtime does not take effect (measured).
DISABLE_AUTO_CHECKPOINT = "CALL auto_checkpoint=false"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def ladybug_path(url: str) -> Path:
    """Return the database path named by ``ladybug:///relative`` or ``ladybug:////absolute`` (or a plain path)."""
    parts = urlsplit(url)
    if not parts.scheme:
        raw = url
    elif parts.scheme != "ladybug":
        raise ConfigurationError(
            f"graph URL {url!r} has scheme {parts.scheme!r}; use ladybug:///relative/dir or ladybug:////abs/dir",
            field="graph",
        )
    else:
        # ladybug:///rel is relative, ladybug:////abs is absolute; ladybug://rel is a common typo for ladybug:///rel
        raw = url[len("ladybug:///") :] if url.startswith("ladybug:///") else url[len("ladybug://") :]
        raw = raw.split("?", 1)[0]
    if not raw or raw == ":memory:":
        raise ConfigurationError(
            f"graph URL {url!r} names no path; use ladybug:///relative/dir or ladybug:////absolute/dir",
            field="graph",
        )
    return Path(raw)


def check_identifier(name: str, *, what: str) -> str:
    """Return `name` if it is a plain Cypher identifier (label, type or property), else raise ValidationError."""
    if not _IDENTIFIER.match(name):
        raise ValidationError(
            f"{what} {name!r} is not a plain identifier; use letters, digits and underscores only",
            field=what,
        )
    return name


def _translate(exc: Exception, cypher: str) -> DatastrataError:
    """Map a LadybugDB failure to a datastrata error whose message says what to do."""
    text = str(exc)
    head = " ".join(cypher.split())[:160]
    if "duplicated primary key" in text:
        return ValidationError(f"{text} (statement: {head}); upsert with MERGE instead of CREATE", field="id")
    if "does not exist" in text and ("Table" in text or "table" in text):
        return NotFound(f"{text} (statement: {head}); create the schema first with ensure_schema()")
    if text.startswith(("Parser exception", "Binder exception")):
        return ValidationError(f"Cypher rejected: {text} (statement: {head}); fix the query or its parameters")
    if text.startswith(("Conversion exception", "Overflow exception")):  # the data, not the store: never retried away
        return ValidationError(f"{text} (statement: {head}); the value does not fit the column's type")
    if "IO exception" in text or "lock" in text.lower():
        return BackendUnavailable(
            f"LadybugDB I/O failed: {text}; check the path exists, is writable and no other process holds it"
        )
    return BackendUnavailable(f"LadybugDB failed: {text} (statement: {head})")


class GraphTx:
    """One open write transaction; any failure rolls it back and closes it for further statements."""

    def __init__(self, db: GraphDatabase) -> None:
        self._db = db
        self.failed = False

    def execute(self, cypher: str, params: Params | None = None) -> list[Row]:
        """Run one Cypher statement inside the transaction and return its rows."""
        return self._guarded(self._db._run, cypher, params)

    def records(self, cypher: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Run one Cypher statement and return its rows as dicts keyed by column name."""
        return self._guarded(self._db._run_records, cypher, params)

    def _guarded(self, run: Callable[[str, Params | None], _T], cypher: str, params: Params | None) -> _T:
        """Run a statement unless the transaction failed; a failure rolls the transaction back for good."""
        if self.failed:
            raise BackendUnavailable(
                "the graph transaction already failed and was rolled back; start a new transaction()"
            )
        try:
            return run(cypher, params)
        except DatastrataError:
            self.failed = True
            self._db._rollback_quietly()
            raise

    def copy_from(self, table: str, data: Any) -> None:
        """Bulk-load a pyarrow table into node or relationship table `table` (COPY … FROM)."""
        self.execute(f"COPY {check_identifier(table, what='table')} FROM $data", {"data": data})


class GraphReadTx:
    """One open read-only transaction on a reader connection: it sees the graph as committed when it began."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, cypher: str, params: Params | None = None) -> list[Row]:
        """Run one read-only Cypher statement inside the transaction and return its rows."""
        return _rows(self._conn, cypher, params)

    def records(self, cypher: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Run one read-only Cypher statement and return its rows as dicts keyed by column name."""
        return _records(self._conn, cypher, params)


#: A transaction statements can run in: a write transaction, or a read-only one.
GraphReader = GraphTx | GraphReadTx


def _result(conn: Any, cypher: str, params: Params | None) -> Any:
    try:
        result = conn.execute(cypher, dict(params) if params else None)
    except RuntimeError as exc:
        raise _translate(exc, cypher) from exc
    return result[-1] if isinstance(result, list) else result


def _rows(conn: Any, cypher: str, params: Params | None) -> list[Row]:
    return [tuple(row) for row in _result(conn, cypher, params).get_all()]


def _records(conn: Any, cypher: str, params: Params | None) -> list[dict[str, Any]]:
    result = _result(conn, cypher, params)
    names = result.get_column_names()
    return [dict(zip(names, row, strict=True)) for row in result.get_all()]


#: The address space each open graph reserves, and so its largest size: 16 GiB lets thousands of graphs share a
#: process (LadybugDB's default reservation stops a process at about 16 open databases).
MAX_DB_SIZE = 16 << 30
#: Write transactions after which the writer connection is replaced (see :meth:`_Generation.renew_writer`).
RENEW_WRITER_EVERY = 8


class _Generation:
    """One opened database file: its writer connection and a pool of reader connections."""

    def __init__(
        self, file: Path, *, read_only: bool, buffer_pool_bytes: int, threads: int, max_db_size: int | None
    ) -> None:
        import ladybug

        self.file = file
        self.threads = threads
        try:
            if not read_only:
                file.parent.mkdir(parents=True, exist_ok=True)
            self.db = ladybug.Database(
                str(file),
                read_only=read_only,
                buffer_pool_size=buffer_pool_bytes,
                max_db_size=max_db_size or MAX_DB_SIZE,
            )
            self.writer = ladybug.Connection(self.db, num_threads=threads)
        except (OSError, RuntimeError) as exc:
            raise BackendUnavailable(
                f"cannot open LadybugDB at {file}: {exc}; check the path is writable and not open in another process"
            ) from exc
        self.idle: list[Any] = []
        self.active = 0
        self.retired = False
        self.drained = threading.Condition()

    def renew_writer(self, *, auto_checkpoint: bool) -> None:
        """Replace the writer connection with a fresh one (with the same checkpoint setting); closes the old one.

        LadybugDB 0.22 keeps buffer-pool memory for every ``LOAD FROM`` of a Python (Arrow) table until the
        connection that ran it closes — about 1.4 MB a statement, never evicted (a bounded pool fails with "the
        buffer pool is full and no memory could be freed"): a live projection's small batches grew the server by
        gigabytes an hour. A fresh connection now and then bounds it.
        """
        import ladybug

        fresh = ladybug.Connection(self.db, num_threads=self.threads)
        if not auto_checkpoint:
            fresh.execute(DISABLE_AUTO_CHECKPOINT)
        old, self.writer = self.writer, fresh
        old.close()

    def lend(self) -> Any:
        """Return a reader connection (an idle one, or a new one); the caller gives it back with `take_back`."""
        import ladybug

        with self.drained:
            self.active += 1
            if self.idle:
                return self.idle.pop()
        try:
            return ladybug.Connection(self.db, num_threads=self.threads)
        except RuntimeError as exc:
            self.take_back(None)
            raise _translate(exc, "open a reader connection") from exc

    def take_back(self, conn: Any) -> None:
        """Return a reader connection to the pool (closed when the pool is full or the generation retired)."""
        with self.drained:
            self.active -= 1
            if conn is not None and not self.retired and len(self.idle) < MAX_IDLE_READERS:
                self.idle.append(conn)
                conn = None
            self.drained.notify_all()
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Wait for the reads under way, then close every connection and the database."""
        with self.drained:
            self.retired = True
            self.drained.wait_for(lambda: self.active == 0)
            idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()
        self.writer.close()
        self.db.close()


#: Reader connections kept open per database for the next reads (more are opened while more reads run at once).
MAX_IDLE_READERS = 16


class GraphDatabase:
    """A LadybugDB graph: one writer connection (guarded, one write transaction at a time) and reader connections.

    Reads (:meth:`read`, :meth:`read_records`, :meth:`reading`) run in read-only transactions on their own
    connections, so they neither wait for an open write transaction nor see its uncommitted writes. `path` is the
    configured graph path; `file` is the generation it answers from (:mod:`datastrata.stores.graphfiles`).
    """

    def __init__(
        self,
        location: str | Path,
        *,
        read_only: bool = False,
        buffer_pool_bytes: int = 0,
        threads: int = 0,
        file: Path | None = None,
        max_db_size: int | None = None,
    ) -> None:
        self.path = ladybug_path(str(location)) if isinstance(location, str) else location
        self.read_only = read_only
        self._buffer_pool_bytes, self._threads, self._max_db_size = buffer_pool_bytes, threads, max_db_size
        try:
            chosen = file if file is not None else graphfiles.live_file(self.path)
        except OSError as exc:
            raise BackendUnavailable(str(exc)) from exc
        self._gen = _Generation(
            chosen, read_only=read_only, buffer_pool_bytes=buffer_pool_bytes, threads=threads, max_db_size=max_db_size
        )
        self._lock = threading.RLock()
        self._swap = threading.Lock()
        self._in_tx = False
        self._committed = 0
        self.schema_ddl: list[str] = []
        self.auto_checkpoint = True
        if file is None and not read_only:
            with suppress(OSError):  # generations a crash left behind after a switch; the live one is open
                graphfiles.remove_stale(self.path)

    @property
    def file(self) -> Path:
        """The database file this graph answers from now."""
        return self._gen.file

    def beside(self, file: Path) -> GraphDatabase:
        """Open another generation file of this graph with the same options, schema and checkpoint setting."""
        other = GraphDatabase(
            self.path,
            file=file,
            read_only=self.read_only,
            buffer_pool_bytes=self._buffer_pool_bytes,
            threads=self._threads,
            max_db_size=self._max_db_size,
        )
        if not self.auto_checkpoint:
            other.disable_auto_checkpoint()
        if self.schema_ddl:
            other.ensure_schema(self.schema_ddl)
        return other

    def adopt(self, other: GraphDatabase) -> None:
        """Answer from `other`'s generation from now on; reads under way finish on the old one, which is closed.

        Call it holding :meth:`exclusive` (no write transaction open); `other` then shares the generation this
        handle answers from, so do not close or use it.
        """
        with self._lock:
            if self._in_tx:
                raise RuntimeError("adopt() inside a write transaction; switch between transactions")
            with self._swap:
                old, self._gen = self._gen, other._gen
            for statement in other.schema_ddl:
                if statement not in self.schema_ddl:
                    self.schema_ddl.append(statement)
        old.close()

    def _run(self, cypher: str, params: Params | None) -> list[Row]:
        with self._lock:
            return _rows(self._gen.writer, cypher, params)

    def _run_records(self, cypher: str, params: Params | None) -> list[dict[str, Any]]:
        with self._lock:
            return _records(self._gen.writer, cypher, params)

    def _rollback_quietly(self) -> None:
        # LadybugDB rolls a transaction back by itself when a statement fails inside it, so ROLLBACK may find none.
        with suppress(RuntimeError):
            self._gen.writer.execute("ROLLBACK")

    def execute(self, cypher: str, params: Params | None = None) -> list[Row]:
        """Run one Cypher statement on the writer connection (auto-commit) and return its rows as tuples."""
        return self._run(cypher, params)

    def records(self, cypher: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Run one Cypher statement on the writer connection and return its rows as dicts keyed by column name."""
        return self._run_records(cypher, params)

    def read(self, cypher: str, params: Params | None = None) -> list[Row]:
        """Run one read-only statement in its own read-only transaction on a reader connection; rows as tuples."""
        with self.reading() as tx:
            return tx.execute(cypher, params)

    def read_records(self, cypher: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Run one read-only statement in its own read-only transaction; rows as dicts keyed by column name."""
        with self.reading() as tx:
            return tx.records(cypher, params)

    @contextmanager
    def reading(self) -> Iterator[GraphReadTx]:
        """BEGIN TRANSACTION READ ONLY … COMMIT on a reader connection: one consistent view for several reads."""
        with self._swap:
            gen = self._gen
            conn = gen.lend()
        try:
            _result(conn, "BEGIN TRANSACTION READ ONLY", None)
            try:
                yield GraphReadTx(conn)
            finally:
                with suppress(RuntimeError):
                    conn.execute("COMMIT")
        finally:
            gen.take_back(conn)

    def disable_auto_checkpoint(self) -> None:
        """Stop LadybugDB folding the write-ahead log inside commits (the writer checkpoints itself)."""
        self.execute(DISABLE_AUTO_CHECKPOINT)
        self.auto_checkpoint = False

    def ensure_schema(self, ddl: Iterable[str]) -> None:
        """Run idempotent DDL (``CREATE … TABLE IF NOT EXISTS``) statements in one transaction."""
        statements = list(ddl)
        for statement in statements:
            if "IF NOT EXISTS" not in statement.upper():
                raise ValidationError(
                    f"DDL {statement!r} is not idempotent; write CREATE NODE/REL TABLE IF NOT EXISTS",
                    field="ddl",
                )
        with self.transaction() as tx:
            for statement in statements:
                tx.execute(statement)
        for statement in statements:  # a rebuild beside makes the same schema in the new generation
            if statement not in self.schema_ddl:
                self.schema_ddl.append(statement)

    def tables(self) -> dict[str, str]:
        """Return every table name with its kind (``NODE`` or ``REL``)."""
        return {str(name): str(kind) for name, kind in self.read("CALL show_tables() RETURN name, type")}

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the writer (no write transaction of this process starts meanwhile), e.g. to switch generations."""
        with self._lock:
            if self._in_tx:
                raise RuntimeError("exclusive() inside a graph transaction")
            yield

    @contextmanager
    def transaction(self) -> Iterator[GraphTx]:
        """BEGIN TRANSACTION … COMMIT on the writer connection; any exception rolls back and nothing is written."""
        with self._lock:
            if self._in_tx:
                raise RuntimeError("nested graph transaction; pass the open GraphTx down instead")
            writer = self._gen.writer
            try:
                writer.execute("BEGIN TRANSACTION")
            except RuntimeError as exc:
                raise _translate(exc, "BEGIN TRANSACTION") from exc
            self._in_tx = True
            tx = GraphTx(self)
            try:
                yield tx
            except BaseException:
                if not tx.failed:
                    self._rollback_quietly()
                raise
            else:
                if tx.failed:
                    raise BackendUnavailable("the graph transaction failed and was rolled back; retry the whole batch")
                try:
                    writer.execute("COMMIT")
                except RuntimeError as exc:
                    self._rollback_quietly()
                    raise _translate(exc, "COMMIT") from exc
                self._committed += 1
                if self._committed % RENEW_WRITER_EVERY == 0:
                    self._gen.renew_writer(auto_checkpoint=self.auto_checkpoint)
            finally:
                self._in_tx = False

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database files (do it after a bulk load: later writes get faster)."""
        self.execute("CHECKPOINT")

    def close(self) -> None:
        """Close the connections and the database (after the reads under way; flushes the write-ahead log)."""
        with self._lock:
            self._gen.close()

    def __enter__(self) -> GraphDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_graph(
    url: str | Path, *, read_only: bool = False, max_db_size: int | None = None, buffer_pool_bytes: int = 0
) -> GraphDatabase:
    """Open (creating if missing) the LadybugDB database named by a ``ladybug:///path`` URL or a path.

    Each open database reserves `max_db_size` bytes of address space (default :data:`MAX_DB_SIZE`; LadybugDB's own
    default is so large that a process fails at about 16 databases) and a buffer pool of `buffer_pool_bytes`
    (0: LadybugDB's default, most of the memory): many graphs in one process want a small pool each.
    """
    return GraphDatabase(url, read_only=read_only, max_db_size=max_db_size, buffer_pool_bytes=buffer_pool_bytes)
