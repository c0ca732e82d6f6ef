"""The orchestrated order saga: the saga engine drives each order through the services' clients, step by step.

Steps (compensatable → pivot → retriable, the engine's order): ``order`` (the order is ``PENDING``; undone by
cancelling it), ``reserve`` (the stock is held; undone by releasing it), ``pay`` (the pivot: once charged the saga
only goes forward; a declined charge compensates), ``confirm`` (the order is ``CONFIRMED``) and ``sell`` (the held
stock is sold); the notification service writes to the customer on ``OrderConfirmed`` / ``OrderCancelled`` from
the bus. Every call carries its step's idempotency key, which the receiving service keeps in its own store.

A saga starts from the order's ``OrderCreated`` event (a consumer of the order service's relay), never in the
order's own transaction: the order and the saga log live in different stores, so work across them goes through
the event, and a crash between the two cannot leave an order without its saga.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datastrata.core.errors import RuleViolation
from datastrata.core.events import Event
from datastrata.core.tenancy import tenant
from datastrata.services.sagas import SagaDefinition, Step, StepCall, StepDeclined
from datastrata.services.sagas.orchestrator import Orchestrator
from datastrata.systems.commerce.clients import InventoryApi, OrdersApi, PaymentApi
from datastrata.systems.commerce.domain import CANCELLED, CHARGED, CONFIRMED, ORCHESTRATED
from datastrata.systems.commerce.inventory import FAILED

#: The saga's name in the saga log (each order's saga id is its order id).
ORDER_SAGA = "order"
#: The consumer that starts an orchestrated order's saga from its ``OrderCreated``.
STARTER = "commerce.sagas.start"


def order_saga(
    *,
    orders: OrdersApi,
    inventory: InventoryApi,
    payment: PaymentApi,
) -> SagaDefinition:
    """The order saga over the services' clients (in-process or HTTP: the same interface).

    A cancelled order records why its saga compensated (the compensation's `reason`), on either runner.
    """

    def order_id(call: StepCall) -> str:
        return str(call.input["order_id"])

    def hold(call: StepCall) -> Mapping[str, Any]:
        order = orders.get(order_id(call))
        if order.status == CANCELLED:
            raise StepDeclined(f"order {order.order_id} was cancelled before its saga ran", field="order_id")
        return {"customer": order.customer, "total": str(order.total),
                "lines": [{"sku": x.sku, "quantity": x.quantity} for x in order.lines]}  # fmt: skip

    def cancel(call: StepCall) -> Mapping[str, Any]:
        why = (call.reason or "the order saga compensated a declined step")[:500]
        try:
            return orders.cancel(order_id(call), reason=why).to_dict()
        except RuleViolation:
            found = orders.get(order_id(call))
            if found.status == CONFIRMED:
                raise
            return found.to_dict()

    def reserve(call: StepCall) -> Mapping[str, Any]:
        held = inventory.reserve(order_id(call), call.results["order"]["lines"], key=call.key)
        if held.state == FAILED:
            raise StepDeclined(held.reason or "out of stock", field="lines")
        return held.to_dict()

    def release(call: StepCall) -> Mapping[str, Any]:
        return inventory.release(order_id(call)).to_dict()

    def pay(call: StepCall) -> Mapping[str, Any]:
        held = call.results["order"]
        charge = payment.charge(order_id(call), held["customer"], held["total"], key=call.key)
        if charge.state != CHARGED:
            raise StepDeclined(charge.reason or f"payment {charge.state.lower()}", field="amount")
        return charge.to_dict()

    def confirm(call: StepCall) -> Mapping[str, Any]:
        return orders.confirm(order_id(call)).to_dict()

    def sell(call: StepCall) -> Mapping[str, Any]:
        return inventory.confirm(order_id(call)).to_dict()

    return SagaDefinition(
        ORDER_SAGA,
        [
            Step.compensatable("order", hold, cancel),
            Step.compensatable("reserve", reserve, release),
            Step.pivot("pay", pay),
            Step.retriable("confirm", confirm),
            Step.retriable("sell", sell),
        ],
    )


class OrderSagas:
    """Starts each orchestrated order's saga from its ``OrderCreated``; the orchestrator's job drives it."""

    def __init__(self, orchestrator: Orchestrator) -> None:
        self.orchestrator = orchestrator

    def start(self, event: Event) -> None:
        """Record the saga of an orchestrated order (again: the recorded one; other orders: nothing)."""
        if event.payload.get("saga") != ORCHESTRATED:
            return
        with tenant(event.tenant_id):
            self.orchestrator.start(ORDER_SAGA, str(event.payload["order_id"]), {"order_id": event.payload["order_id"]})
