"""``commerce saga show ORDER``: an order saga's timeline, from the saga log or, for a Temporal order, from Temporal.

An orchestrated order's saga is in the built-in saga log; a Temporal order's is the history of its workflow (its
activities' schedules, attempts and outcomes), shown in the same shape. The order service says which one an order
has; any other order has no saga to show.
"""

from __future__ import annotations

from collections.abc import Callable

from datastrata.core.errors import NotFound
from datastrata.runtime.units import Units
from datastrata.services.sagas import present, timeline
from datastrata.systems.commerce.clients import OrdersApi
from datastrata.systems.commerce.domain import TEMPORAL
from datastrata.systems.commerce.temporal import TemporalOrders


def saga_timeline(
    units: Units, orders: OrdersApi, order_id: str, temporal: Callable[[], TemporalOrders], *, as_json: bool = False
) -> str:
    """What ``saga show ORDER`` prints for `order_id`: its saga log's timeline, or its Temporal workflow's history."""
    try:
        shown = timeline(units, order_id)
    except NotFound:
        if orders.get(order_id).saga != TEMPORAL:
            raise
        shown = temporal().history(order_id)
    return present(shown, as_json=as_json)
