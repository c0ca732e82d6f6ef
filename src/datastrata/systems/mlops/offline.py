"""The offline store's file format: feature values as Arrow tables, written as zstd Parquet, one part per UTC day.

Values arrive as JSON-like rows (checked value by value) or as an Arrow table (checked column by column, cast
safely: nothing is rounded or truncated). Parts live in the object store under
``mlops/features/<tenant>/<view>/day=YYYY-MM-DD/part-<seq>-<id>.parquet``; readers take only parts the store
recorded (``mlops_feature_parts``), so a part written by a command that then failed is never read.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datastrata.core.clock import ensure_utc, parse_time
from datastrata.core.errors import ValidationError
from datastrata.systems.mlops.domain import EVENT_TIME, MAX_STRING, FeatureView, check_entity_id, feature_value

#: Most rows one ingestion (or one capture) takes.
MAX_ROWS = 2_000_000
#: The column carrying the part's sequence number when parts are read back (later parts win ties).
SEQ = "__seq"
_DAY_US = 86_400_000_000
_TYPES: Mapping[str, pa.DataType] = {
    "int64": pa.int64(),
    "float64": pa.float64(),
    "string": pa.string(),
    "bool": pa.bool_(),
}
TIME = pa.timestamp("us", tz="UTC")


def arrow_schema(view: FeatureView) -> pa.Schema:
    """The Arrow schema of a view's values: the entity, the event time, then each feature."""
    fields = [pa.field(view.entity, pa.string(), nullable=False), pa.field(EVENT_TIME, TIME, nullable=False)]
    return pa.schema(fields + [pa.field(n, _TYPES[t]) for n, t in view.features.items()])


def rows_table(view: FeatureView, rows: Sequence[Mapping[str, object]]) -> pa.Table:
    """Check JSON-like rows against `view` and return them as an Arrow table (a missing feature is null)."""
    if not isinstance(rows, Sequence) or not 1 <= len(rows) <= MAX_ROWS:
        raise ValidationError(f"rows must be a list of 1-{MAX_ROWS} feature rows", field="rows")
    known = {view.entity, EVENT_TIME, *view.features}
    columns: dict[str, list[object]] = {name: [] for name in arrow_schema(view).names}
    for i, row in enumerate(rows):
        where = f"rows[{i}]"
        if not isinstance(row, Mapping):
            raise ValidationError(f"{where} must be an object with {view.entity} and {EVENT_TIME}", field=where)
        unknown = sorted(set(row) - known)
        if unknown:
            raise ValidationError(
                f"{where}.{unknown[0]}: view {view.name!r} has no such feature; its features are "
                f"{', '.join(view.features)}",
                field=f"{where}.{unknown[0]}",
            )
        columns[view.entity].append(check_entity_id(row.get(view.entity), field=f"{where}.{view.entity}"))
        columns[EVENT_TIME].append(event_time(row.get(EVENT_TIME), field=f"{where}.{EVENT_TIME}"))
        for name, kind in view.features.items():
            columns[name].append(feature_value(row.get(name), kind, field=f"{where}.{name}"))
    return pa.table(columns, schema=arrow_schema(view))


def event_time(value: object, *, field: str) -> datetime:
    """Return an aware UTC time from a datetime or ISO-8601 text with an offset."""
    if isinstance(value, datetime):
        return ensure_utc(value, field=field)
    if isinstance(value, str):
        return parse_time(value, field=field)
    raise ValidationError(f"{field} must be an ISO-8601 time with an offset, e.g. 2026-01-01T00:00:00Z", field=field)


def checked_table(view: FeatureView, table: pa.Table) -> pa.Table:
    """Check an Arrow table against `view`: known columns only, safe casts, no null entity or time, bounded text."""
    if not 1 <= table.num_rows <= MAX_ROWS:
        raise ValidationError(f"a feature table must have 1-{MAX_ROWS} rows; got {table.num_rows}", field="rows")
    schema = arrow_schema(view)
    unknown = sorted(set(table.column_names) - set(schema.names))
    if unknown:
        raise ValidationError(
            f"column {unknown[0]!r}: view {view.name!r} has no such feature; its features are "
            f"{', '.join(view.features)}",
            field=unknown[0],
        )
    columns = []
    for f in schema:
        if f.name not in table.column_names:
            if not f.nullable:
                raise ValidationError(f"column {f.name!r} is required", field=f.name)
            columns.append(pa.nulls(table.num_rows, f.type))
            continue
        column = table.column(f.name)
        if f.name == EVENT_TIME and pa.types.is_timestamp(column.type) and column.type.tz is None:
            raise ValidationError(f"{EVENT_TIME} must carry a time zone (UTC); got naive times", field=EVENT_TIME)
        try:
            column = column.cast(f.type, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValidationError(f"column {f.name!r} must hold {f.type} values: {exc}", field=f.name) from None
        if pa.types.is_floating(f.type) and len(column) and not pc.all(pc.is_finite(column)).as_py():
            raise ValidationError(f"column {f.name!r} has NaN or infinite values", field=f.name)
        if not f.nullable and column.null_count:
            raise ValidationError(f"column {f.name!r} has {column.null_count} empty values", field=f.name)
        if pa.types.is_string(f.type) and len(column) and (pc.max(pc.utf8_length(column)).as_py() or 0) > MAX_STRING:
            raise ValidationError(f"column {f.name!r} has values longer than {MAX_STRING} characters", field=f.name)
        columns.append(column)
    if (pc.min(pc.utf8_length(columns[0])).as_py() or 0) < 1:
        raise ValidationError(f"column {view.entity!r} has empty entity ids", field=view.entity)
    return pa.Table.from_arrays(columns, schema=schema)


def micros(table: pa.Table, column: str = EVENT_TIME) -> pa.ChunkedArray:
    """The time column as integer microseconds since the epoch (UTC)."""
    return table.column(column).cast(pa.int64())


def by_day(table: pa.Table, column: str = EVENT_TIME) -> list[tuple[str, pa.Table]]:
    """Split `table` by the UTC day of `column`, oldest day first."""
    days = pc.divide(micros(table, column), pa.scalar(_DAY_US, pa.int64()))
    out = []
    for day in sorted(pc.unique(days).to_pylist()):
        name = datetime.fromtimestamp(day * 86_400, UTC).date().isoformat()
        out.append((name, table.filter(pc.equal(days, day))))
    return out


def from_micros(value: int) -> datetime:
    """An aware UTC time from microseconds since the epoch."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)


def to_parquet(table: pa.Table) -> bytes:
    """Encode `table` as zstd Parquet."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def from_parquet(data: bytes) -> pa.Table:
    """Decode Parquet bytes."""
    return pq.read_table(io.BytesIO(data))


def digest(table: pa.Table) -> str:
    """The SHA-256 of a table's Arrow IPC form (what an idempotency key promises for a bulk ingestion)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()
