"""Tour step: six services on six stores; orders carried on by choreography, then by the orchestrated saga."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from datastrata.runtime import Runtime
from datastrata.systems.commerce.domain import CHOREOGRAPHED, ORCHESTRATED, DeclineRule
from datastrata.systems.commerce.service import SERVICE, CommerceService

#: The tour's card limit: the 3-jacket order is over it, so its payment is declined.
TOUR_LIMIT = Decimal("300.00")


def tour_step(runtime: Runtime, say: Callable[[str], None]) -> None:
    """Show each service's store, a full-text search, and an order confirmed, declined and short of stock."""
    svc: CommerceService = runtime.service(SERVICE, lambda r: CommerceService(r, decline=DeclineRule(TOUR_LIMIT)))
    for row in svc.status()["services"]:
        where = f"schema {row['schema']} as role {row['role']}" if row["schema"] else row["store"]
        say(f"{row['service']}: its own store — {where}")
    svc.catalogue.add("shoe-1", "Trail running shoes", "89.90", description="Light shoes for muddy trails")
    svc.catalogue.add("jacket-1", "Rain jacket", "120.00", description="Waterproof shell for trail runs")
    svc.users.register("mei", "Mei")
    svc.inventory.set_stock("shoe-1", 5)
    svc.inventory.set_stock("jacket-1", 10)
    say(f"Catalogue search 'trail' (full text): {', '.join(p.sku for p in svc.catalogue.search('trail'))}")
    say("Orders are saved PENDING with OrderCreated; the services react to each other's events (choreography):")
    _outcomes(svc, say, CHOREOGRAPHED, "tour")
    say("The same orders driven by the order saga (orchestration: reserve → pay (the pivot) → confirm → sell):")
    _outcomes(svc, say, ORCHESTRATED, "saga")
    say(svc.saga_timeline("saga-2"))


def _outcomes(svc: CommerceService, say: Callable[[str], None], style: str, prefix: str) -> None:
    """Place a confirmed, a declined and a short order in `style`; say how each ended in every service."""
    stock = svc.inventory.stock("jacket-1").on_hand
    cases = ((f"{prefix}-1", ["shoe-1:1"]), (f"{prefix}-2", ["jacket-1:3"]), (f"{prefix}-3", ["shoe-1:9"]))
    for order_id, lines in cases:
        placed = svc.orders.place("mei", lines, order_id=order_id, saga=style)
        svc.settle()
        order = svc.orders.get(placed.order_id)
        held = svc.inventory.reservation(order.order_id)
        paid = svc.payment.payment(order.order_id)
        say(f"  {order.order_id} ({', '.join(lines)}, {order.total}): {order.status}"
            + (f" — {order.reason}" if order.reason else "")
            + f"; stock {held.state}, payment {paid.state if paid else 'none'}")  # fmt: skip
        for note in svc.notification.sent(order.order_id):
            say(f"    notification: {note.message}")
    say(f"  jacket-1 available again after the declined payment's compensation: "
        f"{svc.inventory.stock('jacket-1').available} of {stock}")  # fmt: skip
