"""Identifiers and attribute types derived from spec names."""

from __future__ import annotations

import re
from dataclasses import dataclass

from datastrata.design.spec_types import ATTRIBUTE_TYPES, AttributeType

_ATTRIBUTE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

#: PostgreSQL column type for each attribute type.
SQL_TYPES: dict[AttributeType, str] = {
    "text": "text",
    "int": "integer",
    "bigint": "bigint",
    "decimal": "numeric(18, 2)",
    "float": "double precision",
    "bool": "boolean",
    "timestamp": "timestamptz",
    "date": "date",
    "json": "jsonb",
    "uuid": "uuid",
}


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute of an entity: its name and its (declared or inferred) type."""

    name: str
    type: AttributeType


def singular(word: str) -> str:
    """`orders` → `order`; `address` and short words stay as they are."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def snake(name: str) -> str:
    """`MenuItem` → `menu_item`; `viewing history` → `viewing_history`."""
    spaced = _CAMEL.sub("_", name.strip())
    return re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_") or "x"


def upper_snake(name: str) -> str:
    """`places` → `PLACES`; `is assigned to` → `IS_ASSIGNED_TO`."""
    return snake(name).upper()


def pascal(name: str) -> str:
    """`menu item` → `MenuItem`; keeps `MenuItem` as is."""
    parts = re.split(r"[^A-Za-z0-9]+", name.strip())
    return "".join(part[:1].upper() + part[1:] for part in parts if part) or "X"


def parse_attribute(text: str) -> Attribute | None:
    """Parse `total` or `total:decimal`; None when the text is not a valid attribute."""
    match = _ATTRIBUTE.match(text.strip())
    if not match:
        return None
    name = match.group(1).lower()
    declared = match.group(2)
    if declared is None:
        return Attribute(name, infer_type(name))
    for candidate in ATTRIBUTE_TYPES:
        if candidate == declared:
            return Attribute(name, candidate)
    return None


def infer_type(name: str) -> AttributeType:
    """Guess a column type from an attribute name (`*_at` → timestamp, `total` → decimal, …)."""
    if name.endswith("_at") or name in {"timestamp", "time", "recorded_at", "occurred_at"}:
        return "timestamp"
    if name.endswith("_date") or name == "date":
        return "date"
    if name.startswith(("is_", "has_")):
        return "bool"
    if name in {"lat", "lng", "lon", "latitude", "longitude", "value", "score", "weight"}:
        return "float"
    if name.endswith(("_count", "_seconds", "_ms")) or name in {"quantity", "count", "rating", "sequence_number"}:
        return "bigint"
    if name in {"price", "total", "amount", "cost", "balance"} or name.endswith(("_price", "_total", "_amount")):
        return "decimal"
    if name in {"payload", "metadata", "tags", "details"} or name.endswith("_json"):
        return "json"
    return "text"


def entity_attributes(entity_attributes_text: tuple[str, ...]) -> list[Attribute]:
    """Parsed attributes of an entity, skipping any that do not parse (validation reports those)."""
    return [attr for attr in map(parse_attribute, entity_attributes_text) if attr is not None]


def entity_key(name: str, key: str | None, attributes: tuple[str, ...]) -> str:
    """The key attribute: declared, `<entity>_id`, `id`, or a synthesised `<entity>_id`."""
    if key is not None:
        return key.lower()
    names = [attr.name for attr in entity_attributes(attributes)]
    own = f"{snake(name)}_id"
    return "id" if own not in names and "id" in names else own


def time_attribute(attributes: tuple[str, ...]) -> str | None:
    """The first timestamp-typed attribute, if any."""
    for attr in entity_attributes(attributes):
        if attr.type == "timestamp":
            return attr.name
    return None


def quote(identifier: str) -> str:
    """A PostgreSQL-quoted identifier (names like order and user are reserved words)."""
    return '"' + identifier.replace('"', '""') + '"'
