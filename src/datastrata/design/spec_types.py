"""The closed vocabularies a requirements spec is written in."""

from __future__ import annotations

from typing import Literal

Kind = Literal["master", "transaction", "event", "measurement", "artifact", "reference"]
Structure = Literal["structured", "semi-structured", "unstructured"]
OperationType = Literal["read", "write", "update"]
Frequency = Literal["very-high", "high", "medium", "low"]
Pattern = Literal[
    "key-lookup", "range-scan", "full-text", "graph-traversal", "aggregation", "time-series", "geo-spatial", "stream"
]
ConstraintType = Literal[
    "consistency",
    "atomicity",
    "audit",
    "retention",
    "geo-restriction",
    "tenant-isolation",
    "ordering",
    "exclusivity",
    "latency",
    "durability",
    "business-rule",
]
ConsistencyLevel = Literal["strong", "eventual", "session", "causal"]
Cardinality = Literal["one-to-one", "one-to-many", "many-to-one", "many-to-many"]
Availability = Literal["multi-az", "cross-region", "global"]
AttributeType = Literal["text", "int", "bigint", "decimal", "float", "bool", "timestamp", "date", "json", "uuid"]

ATTRIBUTE_TYPES: tuple[AttributeType, ...] = (
    "text",
    "int",
    "bigint",
    "decimal",
    "float",
    "bool",
    "timestamp",
    "date",
    "json",
    "uuid",
)
