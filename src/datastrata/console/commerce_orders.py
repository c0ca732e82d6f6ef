"""What the commerce page shows of orders: the tenant's recent orders, and one order's saga told step by step.

Both are read from the owners: the recent orders from the order service's own events (the order documents' facts),
an orchestrated order's steps from the saga log (what ``commerce saga show`` prints), a choreographed order's from
the events each service recorded about it in its own log. Nothing is read from another service's tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from datastrata.console.charts.sagatimeline import Mark
from datastrata.core.errors import NotFound
from datastrata.core.events import Event
from datastrata.core.tenancy import current_tenant
from datastrata.runtime.scope import Scope
from datastrata.services.sagas.log import COMPENSATED, COMPLETED, SUCCEEDED
from datastrata.systems.commerce.domain import (
    CANCELLED,
    CHOREOGRAPHED,
    CONFIRMED,
    INVENTORY,
    INVENTORY_FAILED,
    INVENTORY_RELEASED,
    NOTIFICATION,
    ORCHESTRATED,
    ORDER_CANCELLED,
    ORDER_CONFIRMED,
    ORDER_CREATED,
    ORDERS,
    PAYMENT,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
)
from datastrata.systems.commerce.orders import Order
from datastrata.systems.commerce.service import CommerceService

#: How far back in the order service's log the recent orders are looked for (positions).
WINDOW = 5000
#: How many recent orders the page lists.
RECENT = 50
#: The order saga's steps, in order (the lanes of an orchestrated order's timeline).
SAGA_STEPS = ("order", "reserve", "pay", "confirm", "sell")
#: The services whose logs tell a choreographed order's story (its lanes).
STORY_SERVICES = (ORDERS, INVENTORY, PAYMENT, NOTIFICATION)
#: Events that undo an earlier one (drawn as compensations).
UNDOING = {ORDER_CANCELLED, INVENTORY_RELEASED, PAYMENT_REFUNDED}
#: Events that refuse a step (drawn as failed).
REFUSING = {INVENTORY_FAILED, PAYMENT_FAILED}


@dataclass(frozen=True, slots=True)
class Listed:
    """An order as the recent list shows it: id, customer, total, how it is carried on, its status."""

    order_id: str
    customer: str
    total: str
    saga: str
    status: str
    reason: str | None


@dataclass
class Story:
    """An order's saga as the page draws it: lanes, marks, the rows of its table and whether it has finished."""

    style: str
    state: str
    reason: str | None
    lanes: tuple[str, ...]
    marks: list[Mark] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False


def recent_orders(svc: CommerceService, *, limit: int = RECENT) -> list[Listed]:
    """The current tenant's latest orders (newest first) from the order service's events in the last window."""
    with svc.runtime.read(Scope.of(ORDERS)) as work:
        head = work.head()
        log = work.log
    latest: dict[str, Listed] = {}
    after = max(0, head - WINDOW)
    while True:
        page = log.tenant_page(current_tenant(), after=after, limit=1000)
        for event in log.opened(page.events):
            if event.type in (ORDER_CREATED, ORDER_CONFIRMED, ORDER_CANCELLED):
                listed = _listed(dict(event.payload))
                latest.pop(listed.order_id, None)  # re-inserted last: dicts keep insertion order
                latest[listed.order_id] = listed
        if not page.events or page.next_after <= after:
            break
        after = page.next_after
    return list(reversed(list(latest.values())))[:limit]


def _listed(payload: dict[str, Any]) -> Listed:
    order = Order.from_dict(payload)
    return Listed(order.order_id, order.customer, str(order.total), order.saga, order.status, order.reason)


def story(svc: CommerceService, order: Order) -> Story:
    """How `order` has been carried on so far: its saga's calls (orchestrated) or its services' events."""
    if order.saga == ORCHESTRATED:
        return _orchestrated(svc, order)
    return _choreographed(svc, order)


def _orchestrated(svc: CommerceService, order: Order) -> Story:
    try:
        shown: dict[str, Any] = json.loads(svc.saga_timeline(order.order_id, as_json=True))
    except NotFound:  # placed, its OrderCreated not yet relayed to the saga's starter
        return Story(ORCHESTRATED, "starting", None, SAGA_STEPS)
    t0 = datetime.fromisoformat(shown["created_at"])
    told = Story(ORCHESTRATED, shown["state"], shown.get("reason"), SAGA_STEPS)
    told.finished = shown["state"] in (COMPLETED, COMPENSATED)
    for call in shown["timeline"]:
        start = (datetime.fromisoformat(call["started_at"]) - t0).total_seconds() * 1000
        compensation = call["phase"] == "compensation"
        what = f"undo {call['step']}" if compensation else call["step"]
        kind = "failed" if call["outcome"] != SUCCEEDED else "compensation" if compensation else "action"
        title = f"{what} #{call['attempt']}: {call['outcome']}, {call['ms']:.1f} ms"
        told.marks.append(Mark(call["step"], start, float(call["ms"]), kind, title))
        told.rows.append({"at": start, "lane": what, "kind": call["kind"], "outcome": call["outcome"],
                          "ms": call["ms"], "detail": call["error"] or "", "undo": compensation})  # fmt: skip
    return told


def _choreographed(svc: CommerceService, order: Order) -> Story:
    events: list[tuple[str, Event]] = []
    for service in STORY_SERVICES:
        with svc.runtime.read(Scope.of(service, order.order_id)) as work:
            events.extend((service, e) for e in work.stream())
    events.sort(key=lambda pair: pair[1].recorded_at)
    state = {CONFIRMED: "completed", CANCELLED: "compensated"}.get(order.status, "running")
    told = Story(order.saga, state, order.reason, STORY_SERVICES)
    told.finished = order.status in (CONFIRMED, CANCELLED) and (order.saga != CHOREOGRAPHED or _settled(svc))
    if not events:
        return told
    t0 = events[0][1].recorded_at
    for service, event in events:
        at = (event.recorded_at - t0).total_seconds() * 1000
        kind = "compensation" if event.type in UNDOING else "failed" if event.type in REFUSING else "event"
        detail = str(event.payload.get("reason") or event.payload.get("state") or "")
        told.marks.append(Mark(service, at, 0.0, kind, f"{service}: {event.type}"))
        told.rows.append({"at": at, "lane": f"{service}: {event.type}", "kind": "event", "outcome": kind,
                          "ms": None, "detail": detail, "undo": kind == "compensation"})  # fmt: skip
    return told


def _settled(svc: CommerceService) -> bool:
    """Whether nothing waits to be relayed or consumed (a finished order's last reactions have run)."""
    return svc.events.pending() == 0
