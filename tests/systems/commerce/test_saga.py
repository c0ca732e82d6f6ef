"""The orchestrated order saga over the commerce services: the three outcomes, the same as the choreography's."""

from __future__ import annotations

import json

from datastrata.services.sagas import COMPENSATED, COMPLETED
from datastrata.systems.commerce.domain import CANCELLED, CHOREOGRAPHED, CONFIRMED, ORCHESTRATED
from datastrata.systems.commerce.service import CommerceService
from tests.systems.commerce.conftest import stocked

#: The three outcomes of the article's diagram: confirmed, payment declined (compensated), short of stock.
CASES = (("mei", ["shoe:1"]), ("bad", ["jacket:1"]), ("mei", ["jacket:5"]))


def _outcome(svc: CommerceService, order_id: str) -> tuple[str, str, str | None]:
    order, held, paid = svc.orders.get(order_id), svc.inventory.reservation(order_id), svc.payment.payment(order_id)
    return order.status, held.state, None if paid is None else paid.state


def test_orchestrated_orders_end_as_the_choreographed_ones_do(commerce: CommerceService) -> None:
    stocked(commerce)
    for style in (ORCHESTRATED, CHOREOGRAPHED):
        for n, (who, lines) in enumerate(CASES):
            commerce.orders.place(who, lines, order_id=f"{style[:5]}-{n}", saga=style)
    commerce.settle()
    orchestrated = [_outcome(commerce, f"orche-{n}") for n in range(len(CASES))]
    choreographed = [_outcome(commerce, f"chore-{n}") for n in range(len(CASES))]
    assert [o[0] for o in orchestrated] == [CONFIRMED, CANCELLED, CANCELLED]
    assert orchestrated[0] == choreographed[0] == (CONFIRMED, "CONFIRMED", "CHARGED")
    assert orchestrated[1][:2] == choreographed[1][:2] == (CANCELLED, "RELEASED")  # the compensation
    assert orchestrated[2][:2] == (CANCELLED, "NONE") and choreographed[2][:2] == (CANCELLED, "NONE")
    assert "card of bad is declined" in (commerce.orders.get("orche-1").reason or "")
    assert "jacket: " in (commerce.orders.get("orche-2").reason or "")
    assert [commerce.sagas.get(f"orche-{n}").state for n in range(3)] == [COMPLETED, COMPENSATED, COMPENSATED]
    shown = json.loads(commerce.saga_timeline("orche-1", as_json=True))
    steps = [(c["step"], c["phase"], c["outcome"]) for c in shown["timeline"]]
    assert ("pay", "action", "declined") in steps and ("reserve", "compensation", "succeeded") in steps
    assert commerce.inventory.stock("jacket").available == 2  # every cancelled order's stock released
    assert [n.kind for n in commerce.notification.sent("orche-0")] == ["OrderConfirmed"]
