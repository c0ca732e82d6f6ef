"""A move's state tables: found in the source, copied in key order in short batches, compared by checksum, deleted.

Each table is read as canonical rows (PostgreSQL: every column as its text form, which its input function reads
back exactly; SQLite: the stored values), so a row copied and read back digests the same. Only what the move's
selection names is touched (``tenant_id = ?`` for a tenant; a key range for a shard).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from datastrata.runtime import tenantdata
from datastrata.runtime.slotrange import SlotRange, key_of_stream
from datastrata.sharding.slots import slot_of
from datastrata.stores.database import Database, Row, Tx
from datastrata.stores.tables import children_first
from datastrata.stores.tenanttables import is_global

#: Rows per copy batch: each batch is one short transaction at the target (DESIGN.md §8: keep transactions short).
BATCH = 500
#: Rows per page when digesting or deleting (short read or write transactions too).
PAGE = 2000


def carries(table: str) -> bool:
    """Whether a move copies `table`'s rows: every tenant table but the log's (it moves as its events)."""
    if table.startswith("eventlog_"):
        return False  # the log moves as events (``EventLog.import_in``), its snapshots are rebuilt
    return not is_global(table)


@dataclass(frozen=True, slots=True)
class Selection:
    """What a move carries: a kind (``tenant``; resharding: ``shard``), its subject and the row predicate."""

    kind: str
    subject: str
    predicate: str
    params: tuple[Any, ...]
    #: The same condition for SQLite's scans in key order (same parameters): it must not steer to another index.
    ordered: str = ""

    @classmethod
    def tenant(cls, tenant: str) -> Selection:
        """Every row of `tenant`."""
        return cls("tenant", tenant, "tenant_id = ?", (tenant,))

    @classmethod
    def shard(cls, subject: str, slots: SlotRange) -> Selection:
        """The rows of a shard range (every tenant's): its slot runs, minus its excluded keys, plus its pinned keys."""
        predicate, params = slots.predicate()
        return cls("shard", subject, predicate, params, slots.predicate(unindexed=True)[0])

    def in_key_order(self, dialect: str) -> str:
        """The predicate of a scan in key order (SQLite: no index on the slot column; PostgreSQL plans by cost)."""
        return self.ordered if dialect == "sqlite" and self.ordered else self.predicate


@dataclass(frozen=True, slots=True)
class TablePart:
    """One state table a move copies: its columns, its key, and how a changed stream maps to its rows."""

    table: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    #: Rebuilt at the target by its followers, never copied (a read model).
    derived: bool = False
    #: The rows of one stream (``(where, params)``, AND-ed with the selection); None: re-copied whole at the fence.
    rows_of_stream: Callable[[str], tuple[str, tuple[Any, ...]]] | None = None
    #: The rows of several streams as one condition (None: their ``rows_of_stream`` conditions OR-ed).
    rows_of_streams: Callable[[Sequence[str]], tuple[str, tuple[Any, ...]]] | None = None

    def columns_sql(self, dialect: str) -> str:
        """The column list as read: PostgreSQL casts each to text (its canonical, re-readable form)."""
        if dialect == "postgresql":
            return ", ".join(f'CAST("{c}" AS TEXT)' for c in self.columns)
        return ", ".join(f'"{c}"' for c in self.columns)

    @property
    def keyed(self) -> bool:
        """Whether the table has a primary key (a keyless one, an append-only log, is copied whole at the fence)."""
        return bool(self.key)

    @property
    def key_sql(self) -> str:
        """The key columns, comma-separated and quoted."""
        return ", ".join(f'"{c}"' for c in self.key)

    @property
    def order_sql(self) -> str:
        """The order rows are read in: the key, or every column of a keyless table (qualified: not the text casts)."""
        return ", ".join(f'"{self.table}"."{c}"' for c in (self.key or self.columns))


@dataclass(frozen=True, slots=True)
class Digest:
    """A table's rows of a selection: how many, and the SHA-256 over their canonical form in key order."""

    rows: int
    sha256: str
    nbytes: int


def tenant_tables(db: Database) -> list[TablePart]:
    """Return every table of `db` a move carries (see :func:`carries`), as the tenant-data registry describes it,
    parents before the tables whose foreign keys point at them (copied in this order, deleted in the reverse).

    A registered table brings whether it is derived (rebuilt at the target, never copied) and which rows one stream
    made; an unregistered table with ``tenant_id`` is a state table copied whole at the fence when it changed.
    """
    with db.read() as tx:
        found = _tables_sqlite(tx) if tx.dialect == "sqlite" else _tables_postgres(tx)
        children = children_first(tx, [table for table, _, _ in found])
    registered = {spec.table: spec for spec in tenantdata.specs()}
    parts: list[TablePart] = []
    for table, columns, key in found:
        if "tenant_id" not in columns or not carries(table):
            continue
        spec = registered.get(table)
        derived, rows = (spec.derived, spec.rows_of_stream) if spec else (False, None)
        parts.append(TablePart(table, tuple(columns), tuple(key), derived=derived, rows_of_stream=rows))
    order = {table: i for i, table in enumerate(reversed(children))}  # parents before what points at them
    return sorted(parts, key=lambda part: order[part.table])


#: The columns that make a table sharded (the sharding convention): only such tables move in a shard move.
SHARD_COLUMNS = ("shard_key", "shard_slot")


def shard_tables(db: Database) -> list[TablePart]:
    """Return every table of `db` a shard move carries: those with ``shard_key`` and ``shard_slot`` (parents first).

    One stream's rows are its key's (``shard_key = ?``: a sharded context's stream is ``<context>-<key>``); a table
    the tenant-data registry calls derived is rebuilt at the target, never copied.
    """
    with db.read() as tx:
        found = _tables_sqlite(tx) if tx.dialect == "sqlite" else _tables_postgres(tx)
        children = children_first(tx, [table for table, _, _ in found])
    registered = {spec.table: spec for spec in tenantdata.specs()}
    parts = [
        TablePart(
            table,
            tuple(columns),
            tuple(key),
            derived=bool(registered.get(table) and registered[table].derived),
            rows_of_stream=_rows_of_key,
            rows_of_streams=_rows_of_keys,
        )
        for table, columns, key in found
        if all(c in columns for c in SHARD_COLUMNS) and carries(table)
    ]
    order = {table: i for i, table in enumerate(reversed(children))}
    return sorted(parts, key=lambda part: order[part.table])


def _rows_of_key(stream_id: str) -> tuple[str, tuple[Any, ...]]:
    """The rows one stream of a sharded context made: its key's."""
    key = key_of_stream(stream_id)
    return tenantdata.NO_ROWS if key is None else ("shard_key = ?", (key,))


def _rows_of_keys(stream_ids: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
    """The rows several streams of a sharded context made, found through an index on ``shard_slot``.

    A row's ``shard_slot`` is its key's slot (the convention), so ``shard_slot IN (their slots) AND shard_key IN
    (their keys)`` selects exactly their rows, and each engine looks the slots up instead of reading the range.
    """
    keys = sorted({k for k in map(key_of_stream, stream_ids) if k is not None})
    if not keys:
        return tenantdata.NO_ROWS
    slots = ",".join(str(s) for s in sorted({slot_of(k) for k in keys}))
    return f"shard_slot IN ({slots}) AND shard_key IN ({', '.join('?' for _ in keys)})", tuple(keys)


def _tables_sqlite(tx: Tx) -> list[tuple[str, list[str], list[str]]]:
    names = [str(r[0]) for r in tx.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    out = []
    for name in names:
        if name.startswith("sqlite_"):
            continue
        info = tx.query(f'PRAGMA table_info("{name}")')
        columns = [str(r[1]) for r in info]
        key = [str(r[1]) for r in sorted((r for r in info if r[5]), key=lambda r: int(r[5]))]
        out.append((name, columns, key))
    return out


def _tables_postgres(tx: Tx) -> list[tuple[str, list[str], list[str]]]:
    rows = tx.query(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    )
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(str(table), []).append(str(column))
    keys: dict[str, list[str]] = {}
    for table, column in tx.query(
        "SELECT k.table_name, k.column_name FROM information_schema.table_constraints c "
        "JOIN information_schema.key_column_usage k ON k.constraint_name = c.constraint_name "
        "AND k.table_schema = c.table_schema AND k.table_name = c.table_name "
        "WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = current_schema() "
        "ORDER BY k.table_name, k.ordinal_position"
    ):
        keys.setdefault(str(table), []).append(str(column))
    kinds = {str(r[0]) for r in tx.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
    return [(t, cols, keys.get(t, [])) for t, cols in columns.items() if t in kinds]


def page(tx: Tx, part: TablePart, selection: Selection, after: Any, limit: int) -> list[Row]:
    """Return up to `limit` canonical rows of `part` in `selection` in order, after `after`.

    `after` is the last key read (None: from the start); for a keyless table, the number of rows read so far.
    """
    where, params = selection.in_key_order(tx.dialect), list(selection.params)
    offset = ""
    if after is not None and part.keyed:
        where += f" AND ({part.key_sql}) > ({', '.join('?' for _ in part.key)})"
        params += list(after)
    elif after is not None:
        offset = f" OFFSET {int(after)}"
    return tx.query(
        f'SELECT {part.columns_sql(tx.dialect)} FROM "{part.table}" WHERE {where} '
        f"ORDER BY {part.order_sql} LIMIT ?{offset}",
        (*params, limit),
    )


def key_of(part: TablePart, row: Row) -> list[Any]:
    """Return the key values of canonical `row` (to resume a copy after it)."""
    return [row[part.columns.index(c)] for c in part.key]


def _next(part: TablePart, after: Any, rows: Sequence[Row]) -> Any:
    return key_of(part, rows[-1]) if part.keyed else int(after or 0) + len(rows)


def upsert_in(tx: Tx, part: TablePart, rows: Sequence[Row]) -> None:
    """Write `rows` into `part`'s table at the target: inserted, or replacing the row of the same key."""
    if not rows:
        return
    names = ", ".join(f'"{c}"' for c in part.columns)
    rest = [c for c in part.columns if c not in part.key]
    action = "DO UPDATE SET " + ", ".join(f'"{c}" = excluded."{c}"' for c in rest) if rest else "DO NOTHING"
    conflict = f" ON CONFLICT ({part.key_sql}) {action}" if part.keyed else ""
    marks = ", ".join("?" for _ in part.columns)
    tx.executemany(f'INSERT INTO "{part.table}" ({names}) VALUES ({marks}){conflict}', rows)


def copy_batch(
    source: Database, target: Database, part: TablePart, selection: Selection, after: Any
) -> tuple[Any, int, int]:
    """Copy the next batch of `part` after `after`: (where the next batch starts or None when done, rows, bytes)."""
    with source.read() as tx:
        rows = page(tx, part, selection, after, BATCH)
    if not rows:
        return None, 0, 0
    with target.transaction() as tx:
        upsert_in(tx, part, rows)
    return _next(part, after, rows), len(rows), sum(size_of(r) for r in rows)


def recopy_where(
    source: Database, target: Database, part: TablePart, selection: Selection, where: str, params: Sequence[Any]
) -> int:
    """Write at the target the source's rows of `part` in `selection` matching `where` (upserted, so rows other
    tables' foreign keys point at are never deleted on the way); the rows copied. :func:`prune_where` removes
    the rows the source no longer has (children first)."""
    sql_where = f"{selection.predicate} AND ({where})"
    args = (*selection.params, *params)
    with source.read() as tx:
        rows = tx.query(f'SELECT {part.columns_sql(tx.dialect)} FROM "{part.table}" WHERE {sql_where}', args)
    with target.transaction() as tx:
        if not part.keyed:  # nothing points at a keyless table: replaced as a whole
            tx.execute(f'DELETE FROM "{part.table}" WHERE {sql_where}', args)
        upsert_in(tx, part, rows)
    return len(rows)


def prune_where(
    source: Database, target: Database, part: TablePart, selection: Selection, where: str, params: Sequence[Any]
) -> int:
    """Delete at the target the rows of keyed `part` matching `where` whose keys the source no longer holds."""
    if not part.keyed:
        return 0
    sql = f'SELECT {part.key_sql} FROM "{part.table}" WHERE {selection.predicate} AND ({where})'
    args = (*selection.params, *params)
    with source.read() as tx:
        ours = {tuple(r) for r in tx.query(sql, args)}
    with target.transaction() as tx:
        gone = [r for r in tx.query(sql, args) if tuple(r) not in ours]
        one = " AND ".join(f'"{c}" = ?' for c in part.key)
        tx.executemany(f'DELETE FROM "{part.table}" WHERE {one}', gone)
    return len(gone)


def rows_where(db: Database, part: TablePart, selection: Selection, where: str, params: Sequence[Any]) -> list[Row]:
    """Return `part`'s canonical rows of `selection` matching `where`, in key order."""
    with db.read() as tx:
        return tx.query(
            f'SELECT {part.columns_sql(tx.dialect)} FROM "{part.table}" WHERE {selection.predicate} AND ({where}) '
            f"ORDER BY {part.order_sql}",
            (*selection.params, *params),
        )


def rows_between(db: Database, part: TablePart, selection: Selection, after: Any, upto: Any) -> list[Row]:
    """Return keyed `part`'s canonical rows of `selection` with `after` < key <= `upto` (None: unbounded), in order."""
    where, params = selection.in_key_order(db.dialect), list(selection.params)
    marks = ", ".join("?" for _ in part.key)
    if after is not None:
        where += f" AND ({part.key_sql}) > ({marks})"
        params += list(after)
    if upto is not None:
        where += f" AND ({part.key_sql}) <= ({marks})"
        params += list(upto)
    with db.read() as tx:
        return tx.query(
            f'SELECT {part.columns_sql(tx.dialect)} FROM "{part.table}" WHERE {where} ORDER BY {part.order_sql}',
            params,
        )


def differing_keys(source: Database, target: Database, part: TablePart, selection: Selection) -> list[list[Any]]:
    """Compare keyed `part` at both ends page by page (short reads); return the keys whose rows differ or miss."""
    differ: list[list[Any]] = []
    after: Any = None
    while True:
        with source.read() as tx:
            rows = page(tx, part, selection, after, PAGE)
        upto = key_of(part, rows[-1]) if len(rows) == PAGE else None  # the last page runs to the end
        here = rows if upto is not None else rows_between(source, part, selection, after, None)
        there = rows_between(target, part, selection, after, upto)
        if here != there:
            differ += _keys_differing(part, here, there)
        if upto is None:
            return differ
        after = upto


def still_differing(
    source: Database, target: Database, part: TablePart, selection: Selection, keys: Sequence[Sequence[Any]]
) -> list[list[Any]]:
    """Return those of `keys` whose rows still differ between the two ends (looked up 200 at a time)."""
    left: list[list[Any]] = []
    for start in range(0, len(keys), 200):
        chunk = keys[start : start + 200]
        one = f"({', '.join('?' for _ in part.key)})"
        where = f"({part.key_sql}) IN ({', '.join(one for _ in chunk)})"
        params = [v for key in chunk for v in key]
        left += _keys_differing(
            part,
            rows_where(source, part, selection, where, params),
            rows_where(target, part, selection, where, params),
        )
    return left


def _keys_differing(part: TablePart, here: Sequence[Row], there: Sequence[Row]) -> list[list[Any]]:
    ours = {tuple(key_of(part, r)): r for r in here}
    theirs = {tuple(key_of(part, r)): r for r in there}
    return [list(k) for k in sorted(ours.keys() | theirs.keys(), key=str) if ours.get(k) != theirs.get(k)]


def digest(db: Database, part: TablePart, selection: Selection) -> Digest:
    """Count and checksum `part`'s rows of `selection` in `db`, page by page (each page a short read)."""
    sha, count, nbytes, after = hashlib.sha256(), 0, 0, None
    while True:
        with db.read() as tx:
            rows = page(tx, part, selection, after, PAGE)
        for row in rows:
            text = canonical(row)
            sha.update(text.encode())
            sha.update(b"\n")
            nbytes += len(text)
        count += len(rows)
        if len(rows) < PAGE:
            return Digest(count, sha.hexdigest(), nbytes)
        after = _next(part, after, rows)


def count(db: Database, part: TablePart, selection: Selection) -> int:
    """Return how many rows of `part` `selection` names in `db`."""
    with db.read() as tx:
        return int(tx.scalar(f'SELECT COUNT(*) FROM "{part.table}" WHERE {selection.predicate}', selection.params))


def delete_batch(db: Database, part: TablePart, selection: Selection) -> int:
    """Delete up to one page of `part`'s rows of `selection` in `db` in one short transaction; the rows deleted."""
    keys = part.key_sql if part.keyed else ("rowid" if db.dialect == "sqlite" else "ctid")
    with db.transaction() as tx:
        cursor = tx.execute(
            f'DELETE FROM "{part.table}" WHERE {selection.predicate} AND ({keys}) IN '
            f'(SELECT {keys} FROM "{part.table}" WHERE {selection.predicate} LIMIT ?)',
            (*selection.params, *selection.params, PAGE),
        )
        return int(cursor.rowcount or 0)


def canonical(row: Row) -> str:
    """Return one row's canonical text (JSON: bytes as hex, floats by repr) for checksums."""
    return json.dumps([v.hex() if isinstance(v, bytes | memoryview) and not isinstance(v, str) else v for v in row])


def size_of(row: Row) -> int:
    """Return the approximate stored size of one canonical row, in bytes."""
    return sum(len(v) if isinstance(v, str | bytes) else 8 for v in row if v is not None)
