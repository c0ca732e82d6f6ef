"""The notification service: reacts on the bus to orders confirmed and cancelled, one message per order event.

It is an idempotent consumer: the event id goes into its inbox in the same transaction as the message, so a
redelivered event (a relay crash, a Redis claim) sends nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datastrata.core.events import Event, NewEvent
from datastrata.messaging.inbox import Inbox
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.stores.database import time_to_db
from datastrata.systems.commerce.domain import (
    NOTIFICATION,
    NOTIFICATION_SENT,
    ORDER_CANCELLED,
    ORDER_CONFIRMED,
    check_id,
)

#: The consumer's name on the bus and in its inbox.
CONSUMER = "commerce.notification"
#: The events it reacts to.
TYPES = (ORDER_CONFIRMED, ORDER_CANCELLED)
#: The most notifications one listing returns.
MAX_LISTED = 100


@dataclass(frozen=True, slots=True)
class Notification:
    """A message sent to a customer about an order."""

    notification_id: str
    order_id: str
    kind: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape."""
        return {"notification_id": self.notification_id, "order_id": self.order_id, "kind": self.kind,
                "message": self.message}  # fmt: skip


def message_of(event: Event) -> str:
    """The customer's message about an order event."""
    order = event.payload
    if event.type == ORDER_CONFIRMED:
        return f"Dear {order['customer']}, your order {order['order_id']} ({order['total']}) is confirmed."
    return f"Dear {order['customer']}, your order {order['order_id']} is cancelled: {order.get('reason')}."


class NotificationService:
    """Turns order events into messages, each once; lists an order's messages."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.inbox = Inbox(runtime)

    def handle(self, event: Event) -> None:
        """Send the message of an order event unless this event was handled before (the inbox)."""
        order_id = str(event.payload["order_id"])
        scope = Scope(NOTIFICATION, order_id, tenant=event.tenant_id)
        with self.runtime.transaction(scope) as work:
            if not self.inbox.first_time(work, CONSUMER, event.event_id, tenant=event.tenant_id):
                return
            sent = Notification(event.event_id, order_id, event.type, message_of(event))
            work.execute(
                "INSERT INTO commerce_notifications (tenant_id, notification_id, order_id, kind, message, sent_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (event.tenant_id, sent.notification_id, order_id, sent.kind, sent.message,
                 time_to_db(work.dialect, self.runtime.clock())),
            )  # fmt: skip
            work.append([NewEvent(NOTIFICATION_SENT, sent.to_dict())])

    def sent(self, order_id: object) -> list[Notification]:
        """Return the messages sent about an order, oldest first."""
        oid = check_id(order_id, field="order_id")
        with self.runtime.read(Scope.of(NOTIFICATION, oid)) as work:
            rows = work.query(
                "SELECT notification_id, kind, message FROM commerce_notifications "
                "WHERE tenant_id = ? AND order_id = ? ORDER BY sent_at, notification_id LIMIT ?",
                (work.scope.tenant, oid, MAX_LISTED),
            )
        return [Notification(str(r[0]), oid, str(r[1]), str(r[2])) for r in rows]
