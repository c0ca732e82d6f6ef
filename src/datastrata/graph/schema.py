"""Graph schema as data, and the DDL it needs: LadybugDB node/rel tables, or Neo4j uniqueness constraints."""

from __future__ import annotations

from dataclasses import dataclass, field

from datastrata.core.errors import ValidationError
from datastrata.stores.graphdb import check_identifier

#: Property types LadybugDB understands; Neo4j is schemaless and ignores them.
PROPERTY_TYPES = frozenset({"STRING", "INT64", "DOUBLE", "BOOLEAN", "TIMESTAMP", "STRING[]", "DECIMAL(12,2)"})


@dataclass(frozen=True, slots=True)
class NodeTable:
    """A node label with a string primary key ``id`` (or `key`) and typed properties."""

    label: str
    properties: tuple[tuple[str, str], ...] = ()
    key: str = "id"

    def __post_init__(self) -> None:
        check_identifier(self.label, what="label")
        check_identifier(self.key, what="key")
        for name, kind in self.properties:
            check_identifier(name, what="property")
            if kind not in PROPERTY_TYPES:
                raise ValidationError(
                    f"property {self.label}.{name} has type {kind!r}; use one of {sorted(PROPERTY_TYPES)}",
                    field=name,
                )

    @property
    def names(self) -> tuple[str, ...]:
        """Property names other than the key."""
        return tuple(name for name, _ in self.properties)


@dataclass(frozen=True, slots=True)
class RelTable:
    """A relationship type between two node labels, with typed properties."""

    type: str
    source: str
    target: str
    properties: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for name in (self.type, self.source, self.target):
            check_identifier(name, what="relationship")
        for name, kind in self.properties:
            check_identifier(name, what="property")
            if kind not in PROPERTY_TYPES:
                raise ValidationError(
                    f"property {self.type}.{name} has type {kind!r}; use one of {sorted(PROPERTY_TYPES)}",
                    field=name,
                )

    @property
    def names(self) -> tuple[str, ...]:
        """Property names."""
        return tuple(name for name, _ in self.properties)


@dataclass(frozen=True, slots=True)
class GraphSchema:
    """The node and relationship tables one model needs."""

    nodes: tuple[NodeTable, ...]
    rels: tuple[RelTable, ...] = field(default=())

    def node(self, label: str) -> NodeTable:
        """Return the node table for `label`."""
        for table in self.nodes:
            if table.label == label:
                return table
        known = [t.label for t in self.nodes]
        raise ValidationError(f"node label {label!r} is not in the schema; use one of {known}", field="label")

    def rel(self, rel_type: str) -> RelTable:
        """Return the relationship table for `rel_type`."""
        for table in self.rels:
            if table.type == rel_type:
                return table
        known = [t.type for t in self.rels]
        raise ValidationError(
            f"relationship type {rel_type!r} is not in the schema; use one of {known}", field="rel_type"
        )


def ladybug_ddl(schema: GraphSchema) -> list[str]:
    """Return idempotent LadybugDB DDL (``CREATE NODE/REL TABLE IF NOT EXISTS``) for `schema`."""
    statements: list[str] = []
    for node in schema.nodes:
        columns = ", ".join([f"{node.key} STRING", *(f"{n} {t}" for n, t in node.properties)])
        statements.append(f"CREATE NODE TABLE IF NOT EXISTS {node.label}({columns}, PRIMARY KEY({node.key}))")
    for rel in schema.rels:
        columns = "".join(f", {n} {t}" for n, t in rel.properties)
        statements.append(f"CREATE REL TABLE IF NOT EXISTS {rel.type}(FROM {rel.source} TO {rel.target}{columns})")
    return statements


def neo4j_ddl(schema: GraphSchema) -> list[str]:
    """Return the Neo4j 5 equivalent: one uniqueness constraint per node key (relationships need no DDL)."""
    return [
        f"CREATE CONSTRAINT {node.label.lower()}_{node.key} IF NOT EXISTS "
        f"FOR (n:{node.label}) REQUIRE n.{node.key} IS UNIQUE"
        for node in schema.nodes
    ]
