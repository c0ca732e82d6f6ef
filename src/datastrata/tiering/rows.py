"""Rows of a time-stamped table as Arrow, day by day: read from the store, written as Parquet, read back."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.csv as csv
import pyarrow.parquet as pq

from datastrata.stores.database import Tx, time_from_db, time_to_db
from datastrata.stores.tables import columns_of
from datastrata.tiering.policy import Dataset


def day_bounds(day: str) -> tuple[datetime, datetime]:
    """The start and end (exclusive) of the UTC day ``YYYY-MM-DD``."""
    start = datetime.combine(date.fromisoformat(day), time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def item_bounds(key: str) -> tuple[datetime, datetime]:
    """The start and end (exclusive) of an item: the UTC day ``YYYY-MM-DD`` or the UTC hour ``YYYY-MM-DDTHH``."""
    if "T" not in key:
        return day_bounds(key)
    start = datetime.fromisoformat(f"{key}:00").replace(tzinfo=UTC)
    return start, start + timedelta(hours=1)


def days_in_table(tx: Tx, dataset: Dataset, *, hourly: bool = False) -> list[tuple[str, int, int]]:
    """Each UTC day (or hour) with rows in the dataset's table: (day or hour key, rows, bytes of its values as text)."""
    column, table = dataset.time_column, dataset.table
    names = columns(tx, table)
    if tx.dialect == "sqlite":
        day_of = f"substr({column}, 1, {13 if hourly else 10})"
        size = " + ".join(f"coalesce(length(CAST({c} AS BLOB)), 0)" for c in names)
    else:
        pattern = 'YYYY-MM-DD"T"HH24' if hourly else "YYYY-MM-DD"
        day_of = f"to_char({column} AT TIME ZONE 'UTC', '{pattern}')"
        size = " + ".join(f"coalesce(octet_length({c}::text), 0)" for c in names)
    found = tx.query(f"SELECT {day_of}, count(*), sum({size}) FROM {table} GROUP BY 1 ORDER BY 1")
    return [(str(d), int(n), int(b or 0)) for d, n, b in found]


def columns(tx: Tx, table: str) -> list[str]:
    """The table's column names, in order (from the catalogue: a tenant's query reads no rows to learn them)."""
    found = [name for name, _ in columns_of(tx, table)]
    if found:
        return found
    cursor: Any = tx.execute(f"SELECT * FROM {table} WHERE 1 = 0")  # not a plain table: its error says what it is
    return [str(d[0]) for d in cursor.description]


def read_day(tx: Tx, dataset: Dataset, day: str) -> pa.Table:
    """The dataset's rows of UTC `day` (or hour), ordered by every column, as Arrow (times as UTC timestamps)."""
    start, end = item_bounds(day)
    names = columns(tx, dataset.table)
    order = ", ".join(names)
    rows = tx.query(
        f"SELECT {order} FROM {dataset.table} WHERE {dataset.time_column} >= ? AND {dataset.time_column} < ? "
        f"ORDER BY {order}",
        (time_to_db(tx.dialect, start), time_to_db(tx.dialect, end)),
    )
    return to_arrow(names, rows, dataset.time_column, types=declared_types(tx, dataset.table))


def declared_types(tx: Tx, table: str) -> dict[str, pa.DataType]:
    """The Arrow type of each column whose declared type names one (text, integers, floats, booleans)."""
    if tx.dialect == "sqlite":
        declared = [(str(r[1]), str(r[2]).upper()) for r in tx.query(f"PRAGMA table_info({table})")]
    else:
        declared = [
            (str(r[0]), str(r[1]).upper())
            for r in tx.query(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = ?",
                (table,),
            )
        ]
    return {name: found for name, text in declared if (found := _arrow_type(text)) is not None}


def _arrow_type(declared: str) -> pa.DataType | None:
    """SQLite's affinity rules (and PostgreSQL's type names) mapped to Arrow; None where values decide."""
    if declared == "BOOLEAN":
        return pa.bool_()
    if "INT" in declared:
        return pa.int64()
    if any(word in declared for word in ("CHAR", "CLOB", "TEXT")):
        return pa.string()
    if any(word in declared for word in ("REAL", "FLOA", "DOUB")):
        return pa.float64()
    return None


def delete_day(tx: Tx, dataset: Dataset, day: str) -> int:
    """Delete the dataset's rows of UTC `day` (or hour) from its table; return how many went."""
    start, end = item_bounds(day)
    cursor = tx.execute(
        f"DELETE FROM {dataset.table} WHERE {dataset.time_column} >= ? AND {dataset.time_column} < ?",
        (time_to_db(tx.dialect, start), time_to_db(tx.dialect, end)),
    )
    return int(cursor.rowcount)


def move_to_warm(tx: Tx, dataset: Dataset, key: str) -> int:
    """Copy the rows of the day or hour `key` into the dataset's warm table (same store); return how many."""
    start, end = item_bounds(key)
    names = ", ".join(columns(tx, dataset.table))
    cursor = tx.execute(
        f"INSERT INTO {dataset.warm_table} ({names}) SELECT {names} FROM {dataset.table} "
        f"WHERE {dataset.time_column} >= ? AND {dataset.time_column} < ?",
        (time_to_db(tx.dialect, start), time_to_db(tx.dialect, end)),
    )
    return int(cursor.rowcount)


def to_arrow(
    names: Sequence[str], rows: Sequence[Sequence[Any]], time_column: str, *, types: Mapping[str, pa.DataType] = {}
) -> pa.Table:
    """Build an Arrow table from rows, decoding the time column into UTC timestamps (µs).

    A column whose values are all null takes its type from `types` (the declared ones), so every day's Parquet
    part has the same schema (Iceberg and other engines refuse a column of type null).
    """
    data: dict[str, list[Any]] = {name: [] for name in names}
    for row in rows:
        for name, value in zip(names, row, strict=True):
            data[name].append(time_from_db(value) if name == time_column and value is not None else value)
    fields = {
        name: pa.array(values, type=types.get(name) if all(v is None for v in values) else None)
        for name, values in data.items()
        if name != time_column
    }
    fields[time_column] = pa.array(data[time_column], type=pa.timestamp("us", tz="UTC"))
    return pa.table({name: fields[name] for name in names})


def checksum(table: pa.Table) -> str:
    """SHA-256 of the schema and the rows in order, written as CSV by Arrow: equal for equal data in any format.

    Arrow's CSV writer renders each value canonically for its type and quotes strings, so a null and an empty
    string differ; it runs in C++, so checksumming costs little next to the copy it verifies.
    """
    digest = hashlib.sha256(str(table.schema).encode())
    sink = _Digest(digest)
    csv.write_csv(table, sink, csv.WriteOptions(include_header=True, batch_size=10_000))
    return digest.hexdigest()


class _Digest(io.RawIOBase):
    """A writable stream that feeds a hash instead of storing bytes."""

    def __init__(self, digest: Any) -> None:
        self._digest = digest

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self._digest.update(view)
        return view.nbytes


def to_parquet(table: pa.Table) -> bytes:
    """The table as Parquet bytes, zstd-compressed."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def from_parquet(data: bytes) -> pa.Table:
    """Read Parquet bytes back into Arrow."""
    return pq.read_table(io.BytesIO(data))
