"""Upcasters: turn an old event payload into the current schema as it is read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class Upcasters:
    """A registry of one-step upcasters keyed by (event type, schema version they read)."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}
        self._latest: dict[str, int] = {}

    def register(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a function that turns `event_type` payloads of `from_version` into `from_version + 1`."""

        def decorator(step: Upcaster) -> Upcaster:
            self._steps[(event_type, from_version)] = step
            self._latest[event_type] = max(self._latest.get(event_type, 1), from_version + 1)
            return step

        return decorator

    def latest(self, event_type: str) -> int:
        """Return the current schema version of `event_type` (1 when it never changed)."""
        return self._latest.get(event_type, 1)

    def upcast(self, event_type: str, schema_version: int, payload: Payload) -> tuple[int, Payload]:
        """Apply every step from `schema_version` to the latest; return the new version and payload."""
        while (step := self._steps.get((event_type, schema_version))) is not None:
            payload = step(payload)
            schema_version += 1
        return schema_version, payload

    def __bool__(self) -> bool:
        return bool(self._steps)
