"""Where a tenant's data lives: each component names its tenant tables, their keys, and which rows one stream made.

A move, an export or an offboarding walks every table with a ``tenant_id`` column. This registry tells them more
than the column: a table's key (to copy it in key order, in short batches), whether it is *derived* (a read model
or a cache, rebuilt from the events at the target instead of copied) and, for a table of an aggregate's state, which
rows belong to one stream (``rows_of_stream``: a move's catch-up re-copies just those after the stream changed).
Tables nobody registered but that carry ``tenant_id`` count as state tables, copied whole.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datastrata.core.errors import ConfigurationError

#: Which rows of a table one stream produced: ``(SQL condition with ? placeholders, its parameters)``; the caller adds
#: ``tenant_id = ?``. A stream of another aggregate gives ``("1 = 0", ())``.
RowsOfStream = Callable[[str], tuple[str, tuple[Any, ...]]]
#: What a table's ``rows_of_stream`` answers for a stream of another aggregate: no rows (nothing to read).
NO_ROWS: tuple[str, tuple[Any, ...]] = ("1 = 0", ())


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One tenant table: its name, its key columns (``tenant_id`` first), derived or state, and its stream's rows."""

    table: str
    key: tuple[str, ...]
    derived: bool = False
    rows_of_stream: RowsOfStream | None = None


_specs: dict[str, tuple[str, TableSpec]] = {}
_lock = threading.Lock()


def register(component: str, *specs: TableSpec) -> None:
    """Record the tenant tables of `component` (again with the same specs is fine; another component's table is not)."""
    with _lock:
        for spec in specs:
            held = _specs.get(spec.table)
            if held is not None and held != (component, spec):
                raise ConfigurationError(
                    f"tenant table {spec.table!r} is registered by {held[0]!r} already; each table has one owner"
                )
            _specs[spec.table] = (component, spec)


def specs() -> list[TableSpec]:
    """Every registered tenant table, by name (the catalogue of components is imported, so all have registered)."""
    from datastrata.catalog import components

    components()  # loads every system's schema module, and each registers its tables as it loads
    with _lock:
        return [spec for _, spec in sorted(_specs.values(), key=lambda held: held[1].table)]


#: Where a component keeps a tenant's objects: the key prefixes of that tenant in a location's object store.
ObjectPrefixes = Callable[[str], tuple[str, ...]]
_objects: dict[str, ObjectPrefixes] = {"tenancy": lambda tenant: (f"tenants/{tenant}/",)}


def register_objects(component: str, prefixes: ObjectPrefixes) -> None:
    """Record under which key prefixes `component` keeps a tenant's objects (a move and an export carry them)."""
    with _lock:
        _objects[component] = prefixes


def object_prefixes(tenant: str) -> list[str]:
    """Every key prefix under which any component keeps `tenant`'s objects, sorted."""
    from datastrata.catalog import components

    components()  # every system's schema module has registered
    with _lock:
        return sorted({prefix for prefixes in _objects.values() for prefix in prefixes(tenant)})


def by_key(context: str, column: str) -> RowsOfStream:
    """Rows of the stream ``<context>-<key>``: those whose `column` is the key (e.g. ``match-M1`` → ``match_id``)."""
    prefix = f"{context}-"

    def rows(stream_id: str) -> tuple[str, tuple[Any, ...]]:
        if not stream_id.startswith(prefix):
            return NO_ROWS
        return f"{column} = ?", (stream_id[len(prefix) :],)

    return rows


#: The log's tenant tables (the log lives below the runtime, so they are named here). A move re-appends the events
#: (``EventLog.import_in``: same ids and versions, the target's positions) instead of copying rows; snapshots are
#: caches of a stream's fold.
register(
    "eventlog",
    TableSpec("eventlog_events", ("tenant_id", "event_id")),
    TableSpec(
        "eventlog_snapshots",
        ("tenant_id", "stream_id", "name"),
        derived=True,
        rows_of_stream=lambda stream_id: ("stream_id = ?", (stream_id,)),
    ),
    TableSpec("eventlog_archived_streams", ("tenant_id", "stream_id")),
    TableSpec("eventlog_archived_events", ("tenant_id", "event_id")),
)
