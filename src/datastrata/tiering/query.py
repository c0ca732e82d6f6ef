"""One query over all tiers: a time range of a rows dataset answers as if every row were still hot.

The online tables (the table, hot or warm, and a dataset's warm table) are read with the time range and the series
filter in their SQL; the cold days are the recorded Parquet parts of the days the range touches, read by DuckDB with
the same filter pushed into the scan
(``read_parquet`` on a local folder, a ``pyarrow.dataset`` on S3 — the article's Athena). The union is then
answered by one DuckDB statement, so the all-tier answer and the all-hot answer come out of the same engine: raw
rows ordered by every column, or per-bucket count/avg/min/max where each bucket's values are summed in value
order (the same numbers in the same order give the same float, wherever the rows lived). A frozen day in the range
is refused, naming the day and the restore command, until its restored copy is readable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from datastrata.core.clock import ensure_utc
from datastrata.core.errors import NotFound, RuleViolation, ValidationError
from datastrata.stores.database import time_to_db
from datastrata.tiering import rows as tabular
from datastrata.tiering.objects import ObjectInfo
from datastrata.tiering.policy import Dataset
from datastrata.tiering.tiers import Kind

if TYPE_CHECKING:
    from datastrata.tiering.moves import Mover, MoveRecord

#: The aggregate columns of an aggregated answer, after the bucket and the grouping columns.
AGGREGATES = ("count", "avg", "min", "max")
#: The most series filters and grouping columns one query takes.
MAX_COLUMNS = 10


@dataclass(frozen=True, slots=True)
class Aggregation:
    """Per-bucket ``count``, ``avg``, ``min`` and ``max`` of one value column, optionally per series column."""

    every: timedelta
    value: str
    by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RangeQuery:
    """A query of one rows dataset: ``start <= time < end``, equal to `series`, raw or aggregated, at most `limit`."""

    dataset: str
    start: datetime
    end: datetime
    series: Mapping[str, Any] = field(default_factory=dict)
    aggregate: Aggregation | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class FrozenDay:
    """A day in a query's range whose Parquet parts are in an archive class and not readable now."""

    day: str
    storage_class: str
    #: Why it cannot be read: ``frozen`` (never restored), ``restoring`` (ready later) or ``expired`` (copy gone).
    state: str
    ready_at: datetime | None = None
    expires_at: datetime | None = None


class FrozenInRange(RuleViolation):
    """The range holds frozen days: restore them (``datastrata tiering restore``) and ask again once ready."""

    def __init__(self, dataset: str, frozen: Sequence[FrozenDay]) -> None:
        self.dataset = dataset
        self.frozen = tuple(frozen)
        shown = ", ".join(_shown(f) for f in self.frozen[:10]) + (" …" if len(self.frozen) > 10 else "")
        days = " ".join(f.day for f in self.frozen[:10])
        super().__init__(
            f"{len(self.frozen)} day(s) of {dataset} in the range are frozen: {shown}; restore them first: "
            f"datastrata tiering restore POLICY {dataset} {days} --tier expedited|standard|bulk "
            "(or --from/--to), then query again once the restore is ready (datastrata tiering restores)",
            field="from",
        )


def run_query(mover: Mover, q: RangeQuery) -> pa.Table:
    """Answer `q` over every tier of the mover's store and object store (see the module's docstring)."""
    ds = _rows_dataset(mover, q.dataset)
    start, end = ensure_utc(q.start, field="from"), ensure_utc(q.end, field="to")
    if end <= start:
        raise ValidationError(f"to ({end.isoformat()}) must be after from ({start.isoformat()})", field="to")
    with mover.db.read() as tx:  # one snapshot: a move committing meanwhile is seen in neither or in both
        names = tabular.columns(tx, ds.table)
        wanted = _wanted(ds, names, q)
        where, params = _where(ds, q.series, tx.dialect, start, end)
        hot = [  # the hot table and, when the dataset has one, its warm table (the same columns, one snapshot)
            row
            for table in ((ds.table, ds.warm_table) if ds.warm_table else (ds.table,))
            for row in tx.query(f"SELECT {', '.join(wanted)} FROM {table} WHERE {where}", params)
        ]
        recorded = mover.cold_parts(ds.name, tx=tx)
    online = tabular.to_arrow(wanted, hot, ds.time_column)
    parts = _cold_locations(mover, ds, recorded, start, end)
    return _answer(mover, ds, q, wanted, online, parts, start, end)


def _rows_dataset(mover: Mover, name: str) -> Dataset:
    ds = mover.policy.datasets.get(name)
    if ds is None:
        known = sorted(mover.policy.datasets)
        raise NotFound(f"dataset {name!r} is not in policy {mover.policy.name!r}; known: {known}", field="dataset")
    if ds.kind is not Kind.ROWS:
        raise ValidationError(
            f"dataset {name!r} holds {ds.kind.value}, not rows; query a rows dataset (objects are read by key)",
            field="dataset",
        )
    return ds


def _wanted(ds: Dataset, names: list[str], q: RangeQuery) -> list[str]:
    """The columns the query reads (checked against the table): all of them raw, only the needed ones aggregated."""
    if len(q.series) > MAX_COLUMNS or (q.aggregate is not None and len(q.aggregate.by) > MAX_COLUMNS):
        raise ValidationError(
            f"a query takes at most {MAX_COLUMNS} series filters and grouping columns", field="series"
        )
    for column, what in [*((c, "series") for c in q.series), *_aggregate_columns(q)]:
        if column not in names or column == ds.time_column:
            raise ValidationError(
                f"{what} column {column!r} is not a column of {ds.table}; use one of "
                f"{[n for n in names if n != ds.time_column]}",
                field=what,
            )
    if q.aggregate is None:
        return names
    if q.aggregate.every <= timedelta(0) or q.aggregate.every % timedelta(seconds=1):
        raise ValidationError(f"every must be a whole number of seconds; got {q.aggregate.every}", field="every")
    keep = {ds.time_column, q.aggregate.value, *q.aggregate.by, *q.series}
    return [n for n in names if n in keep]


def _aggregate_columns(q: RangeQuery) -> list[tuple[str, str]]:
    if q.aggregate is None:
        return []
    return [(q.aggregate.value, "value"), *((c, "by") for c in q.aggregate.by)]


def _where(
    ds: Dataset, series: Mapping[str, Any], dialect: str, start: datetime, end: datetime
) -> tuple[str, tuple[Any, ...]]:
    clauses = [f"{ds.time_column} >= ?", f"{ds.time_column} < ?"]
    params: list[Any] = [time_to_db(dialect, start), time_to_db(dialect, end)]  # type: ignore[arg-type]
    for column, value in series.items():
        clauses.append(f"{column} = ?")
        params.append(value)
    return " AND ".join(clauses), tuple(params)


def _cold_locations(
    mover: Mover, ds: Dataset, recorded: Mapping[str, list[MoveRecord]], start: datetime, end: datetime
) -> list[str]:
    """The recorded Parquet parts of the days `start`..`end` touches; refuse frozen ones not restored."""
    now = mover.clock()
    locations: list[str] = []
    frozen: list[FrozenDay] = []
    for day, records in sorted(recorded.items()):
        day_start, day_end = tabular.day_bounds(day)
        if day_end <= start or day_start >= end:
            continue
        infos = [mover.objects.info(r.location) for r in records]
        blocked = [i for i in infos if not i.readable(now)]
        if blocked:
            frozen.append(_frozen(day, blocked[0], now))
        locations += [i.key for i in infos]
    if frozen:
        raise FrozenInRange(ds.name, frozen)
    return locations


def _frozen(day: str, info: ObjectInfo, now: datetime) -> FrozenDay:
    restore = info.restore
    if restore is None:
        return FrozenDay(day, info.storage_class, "frozen")
    state = "restoring" if now < restore.ready_at else "expired"
    return FrozenDay(day, info.storage_class, state, restore.ready_at, restore.expires_at)


def _shown(f: FrozenDay) -> str:
    if f.state == "restoring" and f.ready_at is not None:
        return f"{f.day} ({f.storage_class}, being restored, readable from {f.ready_at.isoformat()})"
    if f.state == "expired" and f.expires_at is not None:
        return f"{f.day} ({f.storage_class}, its restored copy expired at {f.expires_at.isoformat()})"
    return f"{f.day} ({f.storage_class})"


def _answer(
    mover: Mover,
    ds: Dataset,
    q: RangeQuery,
    wanted: list[str],
    online: pa.Table,
    parts: list[str],
    start: datetime,
    end: datetime,
) -> pa.Table:
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("online_rows", online)
        sources = ["SELECT * FROM online_rows"]
        params: list[Any] = []
        if parts:
            filters = [f'"{ds.time_column}" >= ?', f'"{ds.time_column}" < ?', *(f'"{c}" = ?' for c in q.series)]
            cold = _cold_relation(con, mover, parts)
            sources.append(f"SELECT {_quoted(wanted)} FROM {cold} WHERE {' AND '.join(filters)}")
            params += [start, end, *q.series.values()]
        union = " UNION ALL BY NAME ".join(sources)
        limit = f" LIMIT {int(q.limit)}" if q.limit is not None else ""
        if q.aggregate is None:
            sql = f"SELECT {_quoted(wanted)} FROM ({union}) ORDER BY {_quoted(wanted)}{limit}"
        else:
            sql = _aggregate_sql(ds, q.aggregate, union) + limit
        result: pa.Table = con.sql(sql, params=params).to_arrow_table()
    finally:
        con.close()
    if q.aggregate is None and result.num_rows == 0:
        return online.slice(0, 0)
    return result


def _cold_relation(con: Any, mover: Mover, parts: list[str]) -> str:
    """A DuckDB relation over the Parquet parts: the files themselves on a folder, a pyarrow dataset on S3."""
    if mover.objects.local:
        paths = ", ".join("'" + mover.objects.path(p).replace("'", "''") + "'" for p in parts)
        return f"read_parquet([{paths}], union_by_name = true)"
    import pyarrow.dataset as pads

    con.register("cold_rows", pads.dataset([mover.objects.path(p) for p in parts], filesystem=mover.objects.fs))
    return "cold_rows"


def _aggregate_sql(ds: Dataset, agg: Aggregation, union: str) -> str:
    step = int(agg.every.total_seconds()) * 1_000_000
    bucket = f'to_timestamp(((epoch_us("{ds.time_column}") // {step}) * {step}) / 1000000.0)'
    by = "".join(f', "{c}"' for c in agg.by)
    value = f'"{agg.value}"'
    # Each bucket's values sorted by value, then summed: equal multisets give equal floats (order-free answers).
    return (
        f'SELECT bucket{by}, count(v) AS "count", list_sum(list(v ORDER BY v)) / count(v) AS "avg", '
        f'min(v) AS "min", max(v) AS "max" '
        f"FROM (SELECT {bucket} AS bucket{by}, {value} AS v FROM ({union}) WHERE {value} IS NOT NULL) "
        f"GROUP BY bucket{by} ORDER BY bucket{by}"
    )


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)
