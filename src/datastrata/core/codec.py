"""JSON codec for payloads and metadata (orjson): Decimals and datetimes become strings, nothing is lost."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

JsonObject = dict[str, Any]
_OPTIONS = orjson.OPT_SORT_KEYS


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON; use str, int, Decimal, datetime, list or dict")


def encode(value: Mapping[str, Any]) -> str:
    """Encode a mapping to compact, key-sorted JSON text."""
    return orjson.dumps(value if isinstance(value, dict) else dict(value), default=_default, option=_OPTIONS).decode()


def decode(text: str | bytes | Mapping[str, Any] | None) -> JsonObject:
    """Decode JSON text (or pass through an already-decoded mapping, as PostgreSQL's jsonb gives)."""
    if text is None:
        return {}
    if isinstance(text, Mapping):
        return dict(text)
    result = orjson.loads(text)
    if not isinstance(result, dict):
        raise ValueError("expected a JSON object")
    return result


#: Decode trusted JSON object text straight to a dict (the event log's hot path).
loads = orjson.loads
