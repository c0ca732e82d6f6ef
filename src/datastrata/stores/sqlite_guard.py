"""SQLite's stand-in for row-level security: triggers check every written row, an authorizer check every read.

SQLite has no policies, so a connection of a guarded database carries TEMP triggers on every tenant table that
abort a write of a row whose ``tenant_id`` is not the bound tenant, and each statement that reads a tenant table is
checked once (by preparing it under an authorizer, memoised per SQL text) to filter on ``tenant_id`` with the bound
tenant among its parameters. The platform binding (``'*'``) passes both.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable

from datastrata.core.errors import TenantIsolationError
from datastrata.core.tenancy import bound
from datastrata.stores.database import Params
from datastrata.stores.tenanttables import is_global

#: The message every guard trigger aborts with (recognised to raise TenantIsolationError).
REFUSED = "tenant isolation"
PLATFORM = "*"


def bound_tenant() -> str | None:
    """The tenant the guard compares rows with: ``'*'`` for the platform, ``None`` when nothing is bound."""
    b = bound()
    return PLATFORM if b.platform else b.tenant


def _trigger_sql(table: str) -> list[str]:
    """The TEMP triggers that refuse writes of another tenant's rows to `table`."""
    other_new = f"NEW.tenant_id IS NOT ds_tenant() AND coalesce(ds_tenant(), '') <> '{PLATFORM}'"
    other_old = f"OLD.tenant_id IS NOT ds_tenant() AND coalesce(ds_tenant(), '') <> '{PLATFORM}'"
    raise_ = f"SELECT RAISE(ABORT, '{REFUSED}: a write to {table} of a row of another tenant'); END"
    return [
        f'CREATE TEMP TRIGGER IF NOT EXISTS "ds_guard_{table}_i" BEFORE INSERT ON main."{table}" '
        f"WHEN {other_new} BEGIN {raise_}",
        f'CREATE TEMP TRIGGER IF NOT EXISTS "ds_guard_{table}_u" BEFORE UPDATE ON main."{table}" '
        f"WHEN ({other_old}) OR ({other_new}) BEGIN {raise_}",
        f'CREATE TEMP TRIGGER IF NOT EXISTS "ds_guard_{table}_d" BEFORE DELETE ON main."{table}" '
        f"WHEN {other_old} BEGIN {raise_}",
    ]


def tenant_tables(conn: sqlite3.Connection) -> list[str]:
    """Return the tables of the main database that hold tenants' rows (a ``tenant_id`` column, not global).

    Virtual tables (a full-text index) take no triggers; their rows are reached through a guarded table's join.
    """
    names = [
        str(n)
        for (n,) in conn.execute(
            "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND coalesce(sql, '') NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name"
        )
    ]
    return [
        n
        for n in names
        if not is_global(n) and any(c[1] == "tenant_id" for c in conn.execute(f'PRAGMA main.table_info("{n}")'))
    ]


class TenantGuard:
    """The guard of one SQLite database: installs its triggers per connection and checks each statement's reads.

    A `strict` guard (``?tenant_guard=on``) also refuses statements run with nothing bound, as row-level security
    does; the guard the runtime turns on by itself checks the statements of a bound tenant only (what runs outside
    every scope, an operator's command or a move, is not a tenant's work).
    """

    def __init__(self, *, strict: bool = True) -> None:
        self.strict = strict
        self._tables: frozenset[str] = frozenset()
        #: SQL text → the tenant tables it reads, and whether it reads each one's ``tenant_id``.
        self._reads: dict[str, tuple[tuple[str, bool], ...]] = {}
        self._lock = threading.Lock()

    def attach(self, conn: sqlite3.Connection, seen: int | None) -> int:
        """Give `conn` the UDF and a trigger on every tenant table unless done at schema version `seen`; the version."""
        version = int(conn.execute("PRAGMA main.schema_version").fetchone()[0])
        if seen == version:
            return version
        conn.create_function("ds_tenant", 0, self.tenant)
        tables = tenant_tables(conn)
        for table in tables:
            for sql in _trigger_sql(table):
                conn.execute(sql)
        with self._lock:
            if frozenset(tables) != self._tables:
                self._tables = frozenset(tables)
                self._reads.clear()  # a new table may make an old statement a tenant read
        return version

    def tenant(self) -> str | None:
        """The tenant this guard compares rows with: ``'*'`` passes all (the platform, or nothing bound when lax)."""
        tenant = bound_tenant()
        return PLATFORM if tenant is None and not self.strict else tenant

    def check(self, conn: sqlite3.Connection, sql: str, params: Params) -> None:
        """Refuse a statement that reads a tenant table without filtering on the bound tenant."""
        reads = self._reads.get(sql)
        if reads is None:
            reads = self._prepare(conn, sql, params)
        if not reads:
            return
        tenant = self.tenant()
        if tenant == PLATFORM:
            return
        for table, filtered in reads:
            if not filtered or tenant is None or tenant not in _values(params):
                who = "no tenant is bound" if tenant is None else f"its parameters do not name tenant {tenant!r}"
                raise TenantIsolationError(
                    f"a statement reads {table} without filtering on tenant_id, or {who}; "
                    "add tenant_id = ? with the scope's tenant",
                    field="tenant_id",
                )

    def check_many(self, conn: sqlite3.Connection, sql: str, rows: Iterable[Params]) -> list[Params]:
        """Check an executemany's statement for each parameter row; return the rows (a list: read once)."""
        listed = list(rows)
        for row in listed:
            self.check(conn, sql, row)
        return listed

    def _prepare(self, conn: sqlite3.Connection, sql: str, params: Params) -> tuple[tuple[str, bool], ...]:
        """Prepare `sql` under an authorizer (``EXPLAIN``: nothing runs) and record the tenant tables it reads."""
        seen: dict[str, bool] = {}
        selects: list[bool] = []
        tables = self._tables

        def authorize(action: int, table: str | None, column: str | None, _db: str | None, trigger: str | None) -> int:
            if trigger is None:
                if action == sqlite3.SQLITE_SELECT:
                    selects.append(True)
                elif action == sqlite3.SQLITE_READ and table in tables:
                    seen[table] = seen.get(table, False) or column == "tenant_id"
            return sqlite3.SQLITE_OK

        conn.set_authorizer(authorize)
        try:
            conn.execute(f"EXPLAIN {sql}", params).fetchall()
        except sqlite3.Error:
            return ()  # let the real execution report the error itself
        finally:
            conn.set_authorizer(None)
        # Only a SELECT (or a statement with one inside) returns rows; the reads of a plain write are the engine's
        # own (foreign keys, the WHERE of an UPDATE), and the triggers refuse any row of another tenant it touches.
        reads = tuple(sorted(seen.items())) if selects else ()
        with self._lock:
            self._reads[sql] = reads
        return reads


def _values(params: Params) -> Iterable[object]:
    """The parameter values of one statement (positional or named)."""
    return params.values() if isinstance(params, dict) else params


def refused(exc: sqlite3.Error) -> TenantIsolationError | None:
    """Return the TenantIsolationError a guard trigger's abort means, or None for any other error."""
    message = str(exc)
    if REFUSED in message:
        return TenantIsolationError(message + "; write rows of the bound tenant only", field="tenant_id")
    return None
