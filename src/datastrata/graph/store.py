"""GraphStore: a schema'd LadybugDB graph with batch upserts (UNWIND … MERGE) and parameterised queries."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from datastrata.core.errors import NotFound, ValidationError
from datastrata.graph.schema import GraphSchema, ladybug_ddl
from datastrata.stores.graphdb import GraphDatabase, GraphReader, GraphTx, Row, open_graph

Record = Mapping[str, Any]


def to_graph_value(value: Any) -> Any:
    """Convert a Python value to what LadybugDB stores: aware datetimes become naive UTC timestamps."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValidationError(
                f"datetime {value.isoformat()} has no timezone; pass a timezone-aware UTC datetime", field="datetime"
            )
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def from_graph_value(value: Any) -> Any:
    """Convert a value read from LadybugDB back: naive timestamps are UTC."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _columns(rows: Sequence[Record], allowed: Sequence[str], required: Sequence[str], what: str) -> list[str]:
    """Return the property columns the rows carry, checking every row carries the same, declared ones."""
    first = set(rows[0])
    for row in rows:
        if set(row) != first:
            raise ValidationError(
                f"{what} rows carry different fields ({sorted(first)} vs {sorted(row)}); "
                "give every row the same fields",
                field=what,
            )
    for name in required:
        if name not in first:
            raise ValidationError(f"{what} rows lack {name!r}; add it to every row", field=name)
    unknown = first - set(allowed) - set(required)
    if unknown:
        raise ValidationError(
            f"{what} rows carry undeclared field(s) {sorted(unknown)}; declared: {sorted(allowed)}",
            field=sorted(unknown)[0],
        )
    return [name for name in allowed if name in first]


class GraphStore:
    """One graph model stored in LadybugDB: idempotent schema, batch upserts, Cypher queries."""

    def __init__(self, db: GraphDatabase, schema: GraphSchema) -> None:
        self.db = db
        self.schema = schema

    @classmethod
    def open(cls, url: str | Path, schema: GraphSchema, *, read_only: bool = False) -> GraphStore:
        """Open the graph at a ``ladybug:///path`` URL or path and create `schema` if it is missing."""
        store = cls(open_graph(url, read_only=read_only), schema)
        if not read_only:
            store.ensure_schema()
        return store

    def ensure_schema(self) -> None:
        """Create every node and relationship table that does not exist yet (safe to call again)."""
        self.db.ensure_schema(ladybug_ddl(self.schema))

    @contextmanager
    def transaction(self) -> Iterator[GraphTx]:
        """One atomic write transaction: pass the yielded tx to upserts as ``tx=``."""
        with self.db.transaction() as tx:
            yield tx

    def query(self, cypher: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run parameterised read-only Cypher (its own read-only transaction); rows as dicts, timestamps aware UTC."""
        return [
            {key: from_graph_value(value) for key, value in row.items()}
            for row in self.db.read_records(cypher, _to_params(params))
        ]

    def rows(self, cypher: str, params: Mapping[str, Any] | None = None, *, tx: GraphReader | None = None) -> list[Row]:
        """Run parameterised Cypher in `tx` (or read-only in its own transaction); rows as tuples (fastest)."""
        if tx is None:
            return self.db.read(cypher, _to_params(params))
        return tx.execute(cypher, _to_params(params))

    def upsert_nodes(self, label: str, rows: Iterable[Record], *, tx: GraphTx | None = None) -> int:
        """MERGE nodes of `label` by key and SET the given properties; the last row wins for a repeated key."""
        table = self.schema.node(label)
        batch = list({row[table.key]: row for row in _checked_rows(rows, table.key, label)}.values())
        if not batch:
            return 0
        columns = _columns(batch, table.names, [table.key], label)
        batch = [_coerced(row, dict(table.properties)) for row in batch]
        assignments, params = set_clause("n", columns, batch, dict(table.properties))
        cypher = f"UNWIND $rows AS row MERGE (n:{label} {{{table.key}: row.{table.key}}})"
        if assignments:
            cypher += f" SET {assignments}"
        self._write(cypher, {"rows": params}, tx)
        return len(batch)

    def upsert_edges(self, rel_type: str, rows: Iterable[Record], *, tx: GraphTx | None = None) -> int:
        """MERGE one `rel_type` edge per (source, target) and SET the given properties; both ends must exist."""
        rel = self.schema.rel(rel_type)
        source_key = self.schema.node(rel.source).key
        target_key = self.schema.node(rel.target).key
        unique: dict[tuple[Any, Any], Record] = {}
        for row in rows:
            if "source" not in row or "target" not in row:
                raise ValidationError(
                    f"{rel_type} rows need 'source' and 'target' ids; got {sorted(row)}", field="source"
                )
            unique[(row["source"], row["target"])] = row
        batch = list(unique.values())
        if not batch:
            return 0
        columns = _columns(batch, rel.names, ["source", "target"], rel_type)
        batch = [_coerced(row, dict(rel.properties)) for row in batch]
        types = dict(rel.properties)
        cypher = (
            f"UNWIND $rows AS row MATCH (a:{rel.source} {{{source_key}: row.source}}), "
            f"(b:{rel.target} {{{target_key}: row.target}}) MERGE (a)-[e:{rel_type}]->(b)"
        )
        assignments, params = set_clause("e", columns, batch, types)
        if assignments:
            cypher += f" SET {assignments}"
        cypher += " RETURN count(*)"
        result = self._write(cypher, {"rows": params}, tx)
        written = int(result[0][0]) if result else 0
        if written != len(batch):
            missing = self._missing_endpoints(rel.source, rel.target, batch, tx)
            raise NotFound(
                f"{len(batch) - written} {rel_type} edge(s) name unknown nodes {missing[:5]}; "
                f"upsert the {rel.source}/{rel.target} nodes first",
                field="source",
            )
        return written

    def _missing_endpoints(self, source: str, target: str, batch: Sequence[Record], tx: GraphTx | None) -> list[str]:
        missing: list[str] = []
        for label, field in ((source, "source"), (target, "target")):
            wanted = sorted({str(row[field]) for row in batch})
            key = self.schema.node(label).key
            found = {
                str(r[0])
                for r in self.rows(f"MATCH (n:{label}) WHERE n.{key} IN $ids RETURN n.{key}", {"ids": wanted}, tx=tx)
            }
            missing.extend(f"{label}:{i}" for i in wanted if i not in found)
        return missing

    def _write(self, cypher: str, params: Mapping[str, Any], tx: GraphTx | None) -> list[Row]:
        if tx is not None:
            return tx.execute(cypher, params)
        with self.db.transaction() as own:
            return own.execute(cypher, params)

    def edge_list(self, rel_type: str) -> list[tuple[str, str]]:
        """Return every `rel_type` edge as (source key, target key), for export to rustworkx."""
        rel = self.schema.rel(rel_type)
        source_key = self.schema.node(rel.source).key
        target_key = self.schema.node(rel.target).key
        rows = self.rows(
            f"MATCH (a:{rel.source})-[:{rel_type}]->(b:{rel.target}) RETURN a.{source_key}, b.{target_key}"
        )
        return [(str(a), str(b)) for a, b in rows]

    def count(self, label: str) -> int:
        """Return how many nodes carry `label`."""
        self.schema.node(label)
        return int(self.rows(f"MATCH (n:{label}) RETURN count(n)")[0][0])

    def close(self) -> None:
        """Close the underlying database."""
        self.db.close()

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _checked_rows(rows: Iterable[Record], key: str, label: str) -> Iterator[Record]:
    for row in rows:
        value = row.get(key)
        if not isinstance(value, str) or not value:
            raise ValidationError(
                f"{label} row has no string {key!r} ({row!r}); give every node a non-empty id", field=key
            )
        yield row


def _coerced(row: Record, types: Mapping[str, str]) -> Record:
    """Return `row` with JSON-friendly values turned into the declared types (decimal text, ISO timestamps)."""
    out = dict(row)
    for name, kind in types.items():
        value = out.get(name)
        if value is None:
            continue
        try:
            if kind.startswith("DECIMAL") and not isinstance(value, Decimal):
                out[name] = Decimal(str(value))
            elif kind == "TIMESTAMP" and isinstance(value, str):
                out[name] = datetime.fromisoformat(value)
        except (ArithmeticError, ValueError):
            raise ValidationError(f"{name}={value!r} is not a valid {kind}; fix the value", field=name) from None
    return out


def set_clause(
    var: str, columns: Sequence[str], batch: Sequence[Record], types: Mapping[str, str] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Return ``var.p = row.p, …`` for `columns` and the parameter rows for ``UNWIND $rows AS row``.

    A column that is null in every row is written as a literal NULL: LadybugDB cannot infer a type for it. A
    DECIMAL column is sent as text and cast to its declared type: LadybugDB types an UNWIND list's decimals by its
    first element, so a 0.00 first (DECIMAL(1, 2)) made a 12.00 later in the page fail.
    """
    types = types or {}
    all_null = {name for name in columns if all(row[name] is None for row in batch)}
    decimals = {name for name in columns if types.get(name, "").startswith("DECIMAL") and name not in all_null}

    def assign(name: str) -> str:
        if name in all_null:
            return f"{var}.{name} = NULL"
        if name in decimals:
            return f"{var}.{name} = CAST(row.{name} AS {types[name]})"
        return f"{var}.{name} = row.{name}"

    params = [
        {k: (None if v is None else str(v)) if k in decimals else to_graph_value(v) for k, v in row.items()}
        for row in batch
    ]
    return ", ".join(assign(name) for name in columns), [
        {k: v for k, v in row.items() if k not in all_null} for row in params
    ]


def _to_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    return {name: to_graph_value(value) for name, value in params.items()}
