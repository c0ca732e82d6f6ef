"""LadybugDB adapter: open by path or ``ladybug:///path`` URL, parameterised Cypher, one write transaction."""

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

Params = Mapping[str, Any]
Row = tuple[Any, ...]
_T = TypeVar("_T")

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


class GraphDatabase:
    """A LadybugDB database directory with one connection, shared safely between threads."""

    def __init__(
        self, location: str | Path, *, read_only: bool = False, buffer_pool_bytes: int = 0, threads: int = 0
    ) -> None:
        import ladybug

        self.path = ladybug_path(str(location)) if isinstance(location, str) else location
        try:
            if not read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = ladybug.Database(str(self.path), read_only=read_only, buffer_pool_size=buffer_pool_bytes)
            self._conn = ladybug.Connection(self._db, num_threads=threads)
        except (OSError, RuntimeError) as exc:
            raise BackendUnavailable(
                f"cannot open LadybugDB at {self.path}: {exc}; check the path is writable and not open "
                "in another process"
            ) from exc
        self.read_only = read_only
        self._lock = threading.RLock()
        self._in_tx = False

    def _run(self, cypher: str, params: Params | None) -> list[Row]:
        with self._lock:
            try:
                result = self._conn.execute(cypher, dict(params) if params else None)
            except RuntimeError as exc:
                raise _translate(exc, cypher) from exc
            if isinstance(result, list):
                result = result[-1]
            return [tuple(row) for row in result.get_all()]

    def _run_records(self, cypher: str, params: Params | None) -> list[dict[str, Any]]:
        with self._lock:
            try:
                result = self._conn.execute(cypher, dict(params) if params else None)
            except RuntimeError as exc:
                raise _translate(exc, cypher) from exc
            if isinstance(result, list):
                result = result[-1]
            names = result.get_column_names()
            return [dict(zip(names, row, strict=True)) for row in result.get_all()]

    def _rollback_quietly(self) -> None:
        # LadybugDB rolls a transaction back by itself when a statement fails inside it, so ROLLBACK may find none.
        with suppress(RuntimeError):
            self._conn.execute("ROLLBACK")

    def execute(self, cypher: str, params: Params | None = None) -> list[Row]:
        """Run one Cypher statement in its own (auto-commit) transaction and return its rows as tuples."""
        return self._run(cypher, params)

    def records(self, cypher: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Run one Cypher statement and return its rows as dicts keyed by column name."""
        return self._run_records(cypher, params)

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

    def tables(self) -> dict[str, str]:
        """Return every table name with its kind (``NODE`` or ``REL``)."""
        return {str(name): str(kind) for name, kind in self.execute("CALL show_tables() RETURN name, type")}

    @contextmanager
    def transaction(self) -> Iterator[GraphTx]:
        """BEGIN TRANSACTION … COMMIT; any exception rolls back and nothing is written."""
        with self._lock:
            if self._in_tx:
                raise RuntimeError("nested graph transaction; pass the open GraphTx down instead")
            try:
                self._conn.execute("BEGIN TRANSACTION")
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
                    self._conn.execute("COMMIT")
                except RuntimeError as exc:
                    self._rollback_quietly()
                    raise _translate(exc, "COMMIT") from exc
            finally:
                self._in_tx = False

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database files (do it after a bulk load: later writes get faster)."""
        self.execute("CHECKPOINT")

    def close(self) -> None:
        """Close the connection and the database (flushes the write-ahead log)."""
        with self._lock:
            self._conn.close()
            self._db.close()

    def __enter__(self) -> GraphDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_graph(url: str | Path, *, read_only: bool = False) -> GraphDatabase:
    """Open (creating if missing) the LadybugDB database named by a ``ladybug:///path`` URL or a path."""
    return GraphDatabase(url, read_only=read_only)
