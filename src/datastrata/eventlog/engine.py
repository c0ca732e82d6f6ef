"""What the event log needs from an engine: one probe-and-insert and one ordered, gap-safe page read."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from datastrata.stores.database import Row, Tx

#: The columns every read selects, in this order (payload and metadata as JSON text).
COLUMNS = (
    "position, tenant_id, stream_id, version, event_id, event_type, schema_version, "
    "payload, metadata, occurred_at, recorded_at"
)
#: What an append stores per event, in this order.
NewRow = tuple[str, str, str, int, str, str, Any, Any]  # tenant, event_id, type, schema, payload, metadata, occ, rec


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the engine found and did: the stream's version before, duplicates, and the new positions."""

    current: int
    duplicates: int
    positions: list[int]
    newer_writer: bool = False


class Engine(Protocol):
    """SQL for one dialect."""

    def append(self, tx: Tx, stream_id: str, rows: Sequence[NewRow], expected: int | None) -> Outcome:
        """Insert `rows` unless an id is stored already or the stream is not at `expected`."""

    def page(self, tx: Tx, after: int, limit: int, types: Collection[str] | None) -> tuple[list[Row], int]:
        """Return rows after `after` in position order that no later commit can precede, and the safe horizon."""

    def head(self, tx: Tx) -> int:
        """Return the highest position a follower may safely read up to."""
