"""The inbox: an idempotent consumer records each event id it handled in the same transaction as the effect."""

from __future__ import annotations

from typing import Protocol

from datastrata.core.tenancy import current_tenant
from datastrata.messaging.schema import MIGRATIONS
from datastrata.stores.database import Tx
from datastrata.stores.migrations import Component


class Schemas(Protocol):
    """Where the inbox's table must exist: a database, a location or a runtime (every location it places)."""

    def ensure(self, component: Component) -> None:
        """Make sure `component`'s migrations are applied there."""


class Inbox:
    """Remembers which events each consumer has handled."""

    def __init__(self, schemas: Schemas) -> None:
        schemas.ensure(MIGRATIONS)

    def first_time(self, tx: Tx, consumer: str, event_id: str, *, tenant: str | None = None) -> bool:
        """Record the tenant's `event_id` for `consumer` in `tx`; False when it was handled before (skip the effect).

        Event ids are unique per tenant (`tenant` defaults to the context's), so the inbox keys on both.
        """
        cursor = tx.execute(
            "INSERT INTO messaging_inbox (consumer, tenant_id, event_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (consumer, current_tenant() if tenant is None else tenant, event_id),
        )
        return cursor.rowcount == 1
