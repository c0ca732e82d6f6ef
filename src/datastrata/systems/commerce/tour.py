"""Tour step: six services on six stores; an order placed, then carried through each service's own API."""

from __future__ import annotations

from collections.abc import Callable

from datastrata.runtime import Runtime
from datastrata.systems.commerce.domain import DeclineRule
from datastrata.systems.commerce.service import SERVICE, CommerceService

#: The tour's card limit: the 3-jacket order is over it, so its payment is declined.
TOUR_LIMIT = "300.00"


def tour_step(runtime: Runtime, say: Callable[[str], None]) -> None:
    """Show each service's store, a full-text search, and an order confirmed, declined and short of stock."""
    from decimal import Decimal

    svc: CommerceService = runtime.service(
        SERVICE, lambda r: CommerceService(r, decline=DeclineRule(limit=Decimal(TOUR_LIMIT)))
    )
    for row in svc.status()["services"]:
        where = f"schema {row['schema']} as role {row['role']}" if row["schema"] else row["store"]
        say(f"{row['service']}: its own store — {where}")
    svc.catalogue.add("shoe-1", "Trail running shoes", "89.90", description="Light shoes for muddy trails")
    svc.catalogue.add("jacket-1", "Rain jacket", "120.00", description="Waterproof shell for trail runs")
    svc.users.register("mei", "Mei")
    svc.inventory.set_stock("shoe-1", 5)
    svc.inventory.set_stock("jacket-1", 10)
    found = ", ".join(p.sku for p in svc.catalogue.search("trail"))
    say(f"Catalogue search 'trail' (full text): {found}")
    order = svc.orders.place("mei", ["shoe-1:2"], order_id="tour-1")
    say(f"Order {order.order_id} saved {order.status} with OrderCreated in the order service's own log; "
        f"priced by asking the catalogue's client: total {order.total}")  # fmt: skip
    held = svc.inventory.reserve(order.order_id, ["shoe-1:2"])
    paid = svc.payment.charge(order.order_id, "mei", order.total)
    svc.inventory.confirm(order.order_id)
    done = svc.orders.confirm(order.order_id)
    svc.settle()
    say(f"  inventory {held.state}, payment {paid.state}, order {done.status}; "
        f"notification: {svc.notification.sent(order.order_id)[0].message}")  # fmt: skip
    big = svc.orders.place("mei", ["jacket-1:3"], order_id="tour-2")
    svc.inventory.reserve(big.order_id, ["jacket-1:3"])
    declined = svc.payment.charge(big.order_id, "mei", big.total)
    svc.inventory.release(big.order_id)
    svc.orders.cancel(big.order_id, reason=declined.reason or "payment declined")
    svc.settle()
    say(f"Order {big.order_id} ({big.total}): payment {declined.state} ({declined.reason}); stock released, order "
        f"cancelled — jacket-1 available again: {svc.inventory.stock('jacket-1').available}")  # fmt: skip
    short = svc.orders.place("mei", ["shoe-1:9"], order_id="tour-3")
    failed = svc.inventory.reserve(short.order_id, ["shoe-1:9"])
    svc.orders.cancel(short.order_id, reason=failed.reason or "out of stock")
    svc.settle()
    say(f"Order {short.order_id}: inventory {failed.state} ({failed.reason}); order cancelled, nothing charged")
    say("  (the order saga that runs these steps and compensations by itself comes with the saga engine)")
