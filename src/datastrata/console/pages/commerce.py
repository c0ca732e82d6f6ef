"""The commerce page: recent orders, one order's saga timeline (steps and compensations), placing an order."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, cast

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from datastrata.console.access import Acting, Viewer, Visitor
from datastrata.console.charts.sagatimeline import saga_timeline
from datastrata.console.commerce_orders import recent_orders, story
from datastrata.console.pages import Page
from datastrata.console.render import PREFIX, fragment, page
from datastrata.console.routing import console_router
from datastrata.systems.commerce.domain import ID_PATTERN, MAX_LINES
from datastrata.systems.commerce.orders import Order
from datastrata.systems.commerce.service import SERVICE, CommerceService

router = console_router("commerce")
PAGE = Page("commerce", "Commerce", 100, "Orders and their sagas: each step and compensation on a timeline", router)

#: The longest lines field the form accepts ("SKU:QTY" items, at most MAX_LINES of them).
LINES_MAX = MAX_LINES * 80
OrderId = Annotated[str, Form(pattern=ID_PATTERN, max_length=64)]


def _svc(request: Request) -> CommerceService:
    return cast(CommerceService, request.app.state.runtime.service(SERVICE, CommerceService))


@router.get("")
def commerce(request: Request, visitor: Visitor = Viewer()) -> HTMLResponse:
    """The tenant's recent orders and, for an editor, the form that places one."""
    return page(request, "commerce.html", title="Commerce", orders=recent_orders(_svc(request)))


@router.get("/find")
def find(
    request: Request, order_id: Annotated[str, Query(pattern=ID_PATTERN)], visitor: Visitor = Viewer()
) -> RedirectResponse:
    """Go to an order by its id."""
    return RedirectResponse(f"{PREFIX}/commerce/orders/{order_id}", status_code=303)


@router.post("/orders")
def place(
    request: Request,
    customer: OrderId,
    lines: Annotated[str, Form(min_length=1, max_length=LINES_MAX)],
    saga: Annotated[Literal["orchestrated", "choreographed"], Form()] = "orchestrated",
    visitor: Visitor = Acting("editor"),
) -> RedirectResponse:
    """Place an order (priced by the catalogue, saved PENDING); the worker carries it on; show its timeline."""
    items = [item for item in re.split(r"[\s,]+", lines) if item]
    order = _svc(request).place(customer, items, saga=saga)
    return RedirectResponse(f"{PREFIX}/commerce/orders/{order.order_id}", status_code=303)


@router.get("/orders/{order_id}")
def order_page(request: Request, order_id: str, visitor: Visitor = Viewer()) -> HTMLResponse:
    """One order: its document, each service's part, and its saga's timeline (followed live until it ends)."""
    return page(request, "commerce_order.html", title=f"Order {order_id}", **_order_context(request, order_id))


@router.get("/orders/{order_id}/saga")
def order_saga(request: Request, order_id: str, visitor: Visitor = Viewer()) -> HTMLResponse:
    """The order's part that changes while its saga runs (the htmx poll's fragment; it stops polling once done)."""
    return fragment("commerce_saga.html", **_order_context(request, order_id))


def _order_context(request: Request, order_id: str) -> dict[str, Any]:
    svc = _svc(request)
    order: Order = svc.orders.get(order_id)  # NotFound names the order (an error page)
    told = story(svc, order)
    chart = saga_timeline(told.lanes, told.marks, label=f"Saga of order {order.order_id}")
    return {
        "order": order,
        "story": told,
        "chart": chart,
        "reservation": svc.inventory.reservation(order.order_id),
        "payment": svc.payment.payment(order.order_id),
        "notifications": svc.notification.sent(order.order_id),
    }
