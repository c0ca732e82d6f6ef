"""JSON codec for payloads and metadata: Decimals and datetimes become strings, nothing is lost."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

JsonObject = dict[str, Any]


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON; use str, int, Decimal, datetime, list or dict")


_ENCODER = json.JSONEncoder(default=_default, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
_DECODER = json.JSONDecoder()


def encode(value: Mapping[str, Any]) -> str:
    """Encode a mapping to compact, key-sorted JSON text."""
    return _ENCODER.encode(value)


def decode(text: str | bytes | Mapping[str, Any] | None) -> JsonObject:
    """Decode JSON text (or pass through an already-decoded mapping, as PostgreSQL's jsonb gives)."""
    if text is None:
        return {}
    if isinstance(text, Mapping):
        return dict(text)
    if isinstance(text, bytes):
        text = text.decode()
    result = _DECODER.decode(text)
    if not isinstance(result, dict):
        raise ValueError("expected a JSON object")
    return result
