"""Read-model helpers: a batched SQL read-model base, additive upserts, and cache-aside views invalidated on commit."""

from __future__ import annotations

import copy
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from typing import Any

from datastrata.core.events import Event
from datastrata.projections.slots import Tables, slot_b, tables_in
from datastrata.stores.cache import Cache
from datastrata.stores.database import Database, Dialect, Tx
from datastrata.stores.migrations import Component, Migration


def slotted(name: str, ddl: Callable[[Dialect], str], tables: tuple[str, ...], *more: Migration) -> Component:
    """Return a read model's migrations: its baseline `ddl` (slot ``a``), then slot ``b`` of `tables` (migration 2)."""
    return Component.baseline(name, ddl, Migration.from_ddl(2, "slot_b", slot_b(ddl, tables)), *more)


#: Rows per multi-row ``INSERT … VALUES`` on SQLite: at most 999 parameters for read models of up to 9 columns.
ROWS_PER_STATEMENT = 100


def insert_rows(
    tx: Tx, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], *, conflict: str = ""
) -> None:
    """Insert a page's `rows` into `table` with a few batched writes: the page's transaction holds them.

    `columns` are ``(name, PostgreSQL type)`` in the rows' order; `conflict` an optional ``ON CONFLICT …`` clause
    (the rows' keys must then be distinct). SQLite runs one multi-row ``INSERT … VALUES`` per
    :data:`ROWS_PER_STATEMENT` rows (binding a hundred rows per statement costs about half of an ``executemany``
    stepping one row at a time) and one ``executemany`` for the rest; PostgreSQL one ``INSERT … SELECT FROM
    unnest(…)`` of one array per column — a statement per row would cost a server round each, the arrays one
    statement for the page.
    """
    if not rows:
        return
    names = ", ".join(name for name, _ in columns)
    if tx.dialect == "postgresql":
        arrays = ", ".join(f"?::{kind}[]" for _, kind in columns)
        tx.execute(
            f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {conflict}",
            [list(column) for column in zip(*rows, strict=True)],
        )
        return
    one = f"({', '.join('?' * len(columns))})"
    step, whole = ROWS_PER_STATEMENT, len(rows) - len(rows) % ROWS_PER_STATEMENT
    if whole:
        many = f"INSERT INTO {table} ({names}) VALUES {', '.join([one] * step)} {conflict}"
        for start in range(0, whole, step):
            tx.execute(many, list(chain.from_iterable(rows[start : start + step])))
    if whole < len(rows):
        tx.executemany(f"INSERT INTO {table} ({names}) VALUES {one} {conflict}", rows[whole:])


def adding(table: str, keys: Sequence[str], counters: Sequence[str]) -> str:
    """Return the ``ON CONFLICT`` clause that adds `counters` to an existing row (for :func:`insert_rows`)."""
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in counters)
    return f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"


class CachedView:
    """Cache-aside JSON views: loaded once per key on a miss, invalidated after the writing transaction commits.

    A TTL bounds the one race cache-aside has (a reader loading just before a commit and storing after its
    invalidation), so a stale entry lives at most `ttl` seconds.

    The invalidation reaches only the caches of the process that committed. When the read model may be written by
    another process (a CLI catching a projection up beside ``serve``, a worker of its own) over a cache that is not
    shared (``cache.shared`` False), pass an `accept` that compares the cached value's position with the read
    model's checkpoint the query reads anyway; then no read serves a view older than the checkpoint it reports.
    """

    def __init__(self, cache: Cache, prefix: str, *, ttl: float = 30.0) -> None:
        self.cache = cache
        self.prefix = prefix
        self.ttl = ttl

    def key(self, name: str) -> str:
        """Return the cache key of view `name`."""
        return f"{self.prefix}:{name}"

    def get(
        self, name: str, load: Callable[[], Any], *, accept: Callable[[Any], bool] | None = None
    ) -> tuple[Any, bool]:
        """Return the view and whether it came from the cache (False: `load` ran).

        A cached value that `accept` refuses (e.g. older than a consistency token) is loaded again and replaced.
        """
        loaded = False

        def loader() -> tuple[str | None, float | None]:
            nonlocal loaded
            loaded = True
            return _dumps(load()), self.ttl

        text = self.cache.get_or_load(self.key(name), loader)
        value = json.loads(text) if text is not None else None
        if not loaded and accept is not None and not accept(value):
            value, loaded = load(), True
            self.cache.set(self.key(name), _dumps(value), ttl=self.ttl)
        return value, not loaded

    def invalidate_on_commit(self, tx: Tx, names: Iterable[str]) -> None:
        """Forget the views `names` once `tx` commits (never if it rolls back)."""
        keys = sorted({self.key(n) for n in names})
        if keys:
            tx.on_commit(lambda: self.cache.delete(*keys))


class SqlReadModel(ABC):
    """Base of a batched read model kept in SQL tables: `apply` is a one-event batch, `clear` empties the tables.

    Subclasses set `name`, `event_types`, `tables` and `migrations` (the numbered schema of those tables in both
    slots, see :func:`slotted`), and implement `apply_batch(tx, events)` — or, to build a page's rows outside its
    write transaction (the writer lock is then held only for the writes), `prepare(events)` and `write(tx, rows)`
    with `apply_batch` their composition. Every statement names its tables through
    ``t = self.slot(tx)`` (``t["table"]``): the live slot, or the slot a rebuild pinned with :meth:`in_slot`.
    """

    name: str = ""
    event_types: frozenset[str] | None = None
    tables: tuple[str, ...] = ()
    migrations: Component
    #: The slot this instance writes and reads regardless of the pointer (a rebuild's copy); None: the live one.
    pinned: str | None = None

    def slot(self, tx: Tx) -> Tables:
        """Return the table names this instance uses inside `tx` (one pointer read unless pinned)."""
        return Tables(self.pinned) if self.pinned is not None else tables_in(tx, self.name)

    def in_slot(self, slot: str) -> SqlReadModel:
        """Return a copy of this read model that writes and reads `slot` (what a rebuild folds into)."""
        pinned = copy.copy(self)
        pinned.pinned = slot
        return pinned

    def switched(self, tx: Tx, old: str, new: str) -> None:  # noqa: B027 - a hook; most read models need none
        """Called inside the transaction that makes `new` the live slot (e.g. to drop cached views on commit)."""

    def setup(self, db: Database) -> None:
        """Make sure the read model's tables exist (embedded: created now; PostgreSQL: migrated already)."""
        db.ensure(self.migrations)

    @abstractmethod
    def apply_batch(self, tx: Tx, events: Sequence[Event]) -> None:
        """Fold a page of events into the read model."""

    def prepare(self, events: Sequence[Event]) -> Any:
        """Build what a page writes from its events alone, before its transaction opens (default: the events)."""
        return events

    def write(self, tx: Tx, prepared: Any) -> None:
        """Write what :meth:`prepare` built inside `tx` (default: :meth:`apply_batch` of the events)."""
        self.apply_batch(tx, prepared)

    def apply(self, tx: Tx, event: Event) -> None:
        """Fold one event (a batch of one)."""
        self.apply_batch(tx, [event])

    def clear(self, tx: Tx) -> None:
        """Empty every table of the read model's slot."""
        t = self.slot(tx)
        for table in self.tables:
            tx.execute(f"DELETE FROM {t[table]}")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
