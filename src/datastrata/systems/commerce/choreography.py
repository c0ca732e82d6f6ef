"""The choreographed order saga: the services react to each other's events, as in the article's sequence diagram.

Nobody drives it. ``OrderCreated`` → the inventory service reserves (``InventoryReserved`` / ``InventoryFailed``);
``InventoryReserved`` → the payment service charges (``PaymentCompleted`` / ``PaymentFailed``); ``PaymentCompleted``
→ the order service confirms (``OrderConfirmed``) → the inventory service sells the held stock and the notification
service writes to the customer. Failures compensate: ``InventoryFailed`` or ``PaymentFailed`` → the order service
cancels (``OrderCancelled``) → the inventory service releases the stock and the payment service refunds (both
no-ops that leave a tombstone when nothing was held or charged, so a late reservation or charge does nothing).

Each reaction consumes the producing service's relay (all as one consumer), in the event's tenant, calling the
receiving service's idempotent command (keyed by the event), so a redelivered event changes nothing. Only orders
placed with ``saga="choreographed"`` are carried on; the others' events are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from datastrata.core.errors import RuleViolation
from datastrata.core.events import Event
from datastrata.core.tenancy import tenant
from datastrata.services.events import ServiceEvents
from datastrata.systems.commerce.clients import InventoryApi, OrdersApi, PaymentApi
from datastrata.systems.commerce.domain import (
    CANCELLED,
    CHOREOGRAPHED,
    INVENTORY,
    INVENTORY_FAILED,
    INVENTORY_RESERVED,
    ORDER_CANCELLED,
    ORDER_CONFIRMED,
    ORDER_CREATED,
    ORDERS,
    PAYMENT,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
)
from datastrata.systems.commerce.orders import Order

#: The consumer the reactions run as on the bus.
CONSUMER = "commerce.choreography"


@dataclass(frozen=True, slots=True)
class Reaction:
    """One consumer of the choreography: the event it reacts to, where that event comes from, what it does."""

    name: str
    on: str
    producer: str
    act: Callable[[Order, Event], None]


class Choreography:
    """The reactions between the inventory, payment and order services, each through the receiver's client."""

    def __init__(self, *, orders: OrdersApi, inventory: InventoryApi, payment: PaymentApi) -> None:
        self.orders = orders
        self.inventory = inventory
        self.payment = payment
        self.reactions = (
            Reaction("inventory.reserve", ORDER_CREATED, ORDERS, self._reserve),
            Reaction("payment.charge", INVENTORY_RESERVED, INVENTORY, self._charge),
            Reaction("orders.cancel_short", INVENTORY_FAILED, INVENTORY, self._cancel),
            Reaction("orders.confirm", PAYMENT_COMPLETED, PAYMENT, self._confirm),
            Reaction("orders.cancel_declined", PAYMENT_FAILED, PAYMENT, self._cancel),
            Reaction("inventory.sell", ORDER_CONFIRMED, ORDERS, self._sell),
            Reaction("inventory.release", ORDER_CANCELLED, ORDERS, self._release),
            Reaction("payment.refund", ORDER_CANCELLED, ORDERS, self._refund),
        )

    def attach(self, events: ServiceEvents) -> None:
        """Subscribe the reactions to their producers' events, as one consumer (:data:`CONSUMER`).

        One consumer rather than one per reaction: each relay keeps a checkpoint per consumer, so every consumer
        more is a checkpoint more to read and move on every service's log.
        """
        events.subscribe(
            CONSUMER, self.handle, types=sorted({r.on for r in self.reactions}),
            producers=sorted({r.producer for r in self.reactions}),
        )  # fmt: skip

    def handle(self, event: Event) -> None:
        """Run every reaction to `event`, for its tenant, if its order is choreographed (again: nothing changes)."""
        reactions = [r for r in self.reactions if r.on == event.type]
        if not reactions:
            return
        with tenant(event.tenant_id):  # the receiving services act for the event's tenant
            order = self.orders.get(str(event.payload["order_id"]))
            if order.saga == CHOREOGRAPHED:
                for reaction in reactions:
                    reaction.act(order, event)

    def _reserve(self, order: Order, event: Event) -> None:
        lines = [{"sku": x.sku, "quantity": x.quantity} for x in order.lines]
        self.inventory.reserve(order.order_id, lines, key=f"choreography:{order.order_id}:reserve")

    def _charge(self, order: Order, event: Event) -> None:
        if order.status == CANCELLED:
            return  # cancelled meanwhile: its refund leaves a tombstone anyway
        self.payment.charge(order.order_id, order.customer, order.total, key=f"choreography:{order.order_id}:pay")

    def _confirm(self, order: Order, event: Event) -> None:
        try:
            self.orders.confirm(order.order_id)
        except RuleViolation:
            if order.status != CANCELLED:
                raise  # a cancelled order's charge is refunded by its OrderCancelled reaction

    def _cancel(self, order: Order, event: Event) -> None:
        reason = str(event.payload.get("reason") or event.type)
        try:
            self.orders.cancel(order.order_id, reason=reason[:500])
        except RuleViolation:
            if self.orders.get(order.order_id).status == CANCELLED:
                return
            raise

    def _sell(self, order: Order, event: Event) -> None:
        self.inventory.confirm(order.order_id)

    def _release(self, order: Order, event: Event) -> None:
        self.inventory.release(order.order_id)

    def _refund(self, order: Order, event: Event) -> None:
        self.payment.refund(order.order_id, key=f"choreography:{order.order_id}:refund")
