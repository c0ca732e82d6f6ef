"""The inbox: an idempotent consumer records each event id it handled in the same transaction as the effect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from datastrata.messaging.schema import ddl
from datastrata.stores.database import Dialect, Tx


class Schemas(Protocol):
    """Where the inbox's table must exist: a database, a location or a runtime (every location it places)."""

    def ensure_schema(self, name: str, ddl: Callable[[Dialect], str]) -> None:
        """Create the tables of `name` once per process."""


class Inbox:
    """Remembers which events each consumer has handled."""

    def __init__(self, schemas: Schemas) -> None:
        schemas.ensure_schema("messaging", ddl)

    def first_time(self, tx: Tx, consumer: str, event_id: str) -> bool:
        """Record `event_id` for `consumer` inside `tx`; False when it was handled before (skip the effect)."""
        cursor = tx.execute(
            "INSERT INTO messaging_inbox (consumer, event_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (consumer, event_id),
        )
        return cursor.rowcount == 1
