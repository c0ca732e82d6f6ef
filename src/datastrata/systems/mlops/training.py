"""Point-in-time correct training sets: each label joined with the feature values as of its own time.

For every label (entity, label time, label) and every view, the value taken is the latest one whose event time is
at or before the label time — never a later one (no leakage) — and, when the view has a TTL, no older than the TTL
(else null). Two values of one entity at the same event time: the later ingestion wins, and within one ingestion
the later row. The join is DuckDB's ASOF JOIN over the Arrow tables read from the Parquet history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from datastrata.core.errors import ValidationError
from datastrata.systems.mlops.domain import EVENT_TIME, LABEL, LABEL_TIME, FeatureView, check_entity_id
from datastrata.systems.mlops.offline import MAX_ROWS, SEQ, TIME, event_time

_ROW = "__row"
_MICRO = timedelta(microseconds=1)


def label_schema(entities: Sequence[str]) -> pa.Schema:
    """The Arrow schema of labels for views keyed by `entities`: each entity, the label time, the label."""
    keys = [pa.field(e, pa.string(), nullable=False) for e in dict.fromkeys(entities)]
    return pa.schema([*keys, pa.field(LABEL_TIME, TIME, nullable=False), pa.field(LABEL, pa.float64(), False)])


def labels_table(rows: Sequence[Mapping[str, object]], entities: Sequence[str]) -> pa.Table:
    """Check JSON-like labels (each entity id, ``label_time``, a numeric ``label``) and return an Arrow table."""
    if not isinstance(rows, Sequence) or not 1 <= len(rows) <= MAX_ROWS:
        raise ValidationError(f"labels must be a list of 1-{MAX_ROWS} rows", field="labels")
    schema = label_schema(entities)
    columns: dict[str, list[object]] = {name: [] for name in schema.names}
    for i, row in enumerate(rows):
        where = f"labels[{i}]"
        if not isinstance(row, Mapping):
            raise ValidationError(f"{where} must be an object with {', '.join(schema.names)}", field=where)
        unknown = sorted(set(row) - set(schema.names))
        if unknown:
            raise ValidationError(
                f"{where}.{unknown[0]}: a label has only {', '.join(schema.names)}", field=f"{where}.{unknown[0]}"
            )
        for entity in schema.names[:-2]:
            columns[entity].append(check_entity_id(row.get(entity), field=f"{where}.{entity}"))
        columns[LABEL_TIME].append(event_time(row.get(LABEL_TIME), field=f"{where}.{LABEL_TIME}"))
        value = row.get(LABEL)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise ValidationError(f"{where}.{LABEL} must be a number (0/1 for a class); got {value!r}", field=LABEL)
        columns[LABEL].append(float(value))
    return pa.table(columns, schema=schema)


def checked_labels(table: pa.Table, entities: Sequence[str]) -> pa.Table:
    """Check an Arrow table of labels: the entity columns, ``label_time`` (UTC) and ``label``; cast safely."""
    schema = label_schema(entities)
    if not 1 <= table.num_rows <= MAX_ROWS:
        raise ValidationError(f"labels must have 1-{MAX_ROWS} rows; got {table.num_rows}", field="labels")
    columns = []
    for f in schema:
        if f.name not in table.column_names:
            raise ValidationError(f"labels need a column {f.name!r} (have {table.column_names})", field=f.name)
        column = table.column(f.name)
        if f.name == LABEL_TIME and pa.types.is_timestamp(column.type) and column.type.tz is None:
            raise ValidationError(f"{LABEL_TIME} must carry a time zone (UTC); got naive times", field=LABEL_TIME)
        try:
            column = column.cast(f.type, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValidationError(f"labels column {f.name!r} must hold {f.type} values: {exc}", field=f.name) from None
        if column.null_count:
            raise ValidationError(f"labels column {f.name!r} has {column.null_count} empty values", field=f.name)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def output_columns(views: Sequence[FeatureView]) -> list[str]:
    """The feature columns a training set adds, refusing two views that name the same feature."""
    seen: dict[str, str] = {}
    for view in views:
        for name in (*view.features, f"{view.name}__{EVENT_TIME}"):
            if name in seen or name in (LABEL, LABEL_TIME) or name in {v.entity for v in views}:
                raise ValidationError(
                    f"feature {name!r} of view {view.name!r} clashes with {seen.get(name, 'a label column')}; "
                    "build the training set from views whose feature names differ",
                    field="views",
                )
            seen[name] = f"view {view.name!r}"
    return list(seen)


def point_in_time(labels: pa.Table, history: Sequence[tuple[FeatureView, pa.Table]]) -> pa.Table:
    """Join each label with each view's values as of the label's time (see the module's rule); label order kept.

    `labels` is checked (:func:`checked_labels`); each history table has the view's columns and :data:`SEQ`.
    """
    views = [v for v, _ in history]
    output_columns(views)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("labels", labels.append_column(_ROW, pa.array(range(labels.num_rows), pa.int64())))
        selects = ["l.* EXCLUDE (" + _ROW + ")"]
        joins = []
        for i, (view, table) in enumerate(history):
            name = f"h{i}"
            con.register(f"raw{i}", _ordered(table))
            features = ", ".join(_q(f) for f in view.features)
            con.execute(
                f"CREATE TEMP VIEW {name} AS SELECT {_q(view.entity)} AS k, {EVENT_TIME} AS t, {features} "
                f"FROM raw{i} QUALIFY row_number() OVER (PARTITION BY {_q(view.entity)}, {EVENT_TIME} "
                "ORDER BY __order DESC) = 1"
            )
            fresh = "TRUE" if view.ttl is None else f"{name}.t >= l.{LABEL_TIME} - to_microseconds({_us(view)})"
            for feature in view.features:
                selects.append(f"CASE WHEN {fresh} THEN {name}.{_q(feature)} END AS {_q(feature)}")
            selects.append(f"CASE WHEN {fresh} THEN {name}.t END AS {_q(view.name + '__' + EVENT_TIME)}")
            joins.append(f"ASOF LEFT JOIN {name} ON l.{_q(view.entity)} = {name}.k AND l.{LABEL_TIME} >= {name}.t")
        sql = f"SELECT {', '.join(selects)} FROM labels l {' '.join(joins)} ORDER BY l.{_ROW}"
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def _ordered(table: pa.Table) -> pa.Table:
    """Add ``__order``: the part's sequence, then the row in it (later wins a tie of entity and event time)."""
    seq = table.column(SEQ).cast(pa.int64()) if SEQ in table.column_names else pa.nulls(table.num_rows, pa.int64())
    row = pa.array(range(table.num_rows), pa.int64())
    order = pc.add(pc.multiply(pc.fill_null(seq, 0), pa.scalar(1 << 32, pa.int64())), row)
    return table.append_column("__order", order)


def _us(view: FeatureView) -> int:
    assert view.ttl is not None
    return view.ttl // _MICRO


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
