"""The trading page: New York and Singapore, the link between them (cut and restored), Singapore's staleness.

Forms post with htmx and answer with a result fragment (a refusal is shown in it, not as an error page), so the
live panel's poll is never cut short by a page load; without htmx they post/redirect/get like every console form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, cast

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from datastrata.console.access import Acting, Viewer, Visitor
from datastrata.console.pages import Page
from datastrata.console.render import PREFIX, fragment, page
from datastrata.console.routing import console_router
from datastrata.console.trading_view import look
from datastrata.core.errors import DatastrataError
from datastrata.systems.trading.domain import PRICE_DIGITS, SYMBOL_PATTERN, USER_PATTERN
from datastrata.systems.trading.link import MAX_LATENCY_MS
from datastrata.systems.trading.service import SERVICE, TradingService

router = console_router("trading")
PAGE = Page("trading", "Trading", 70, "New York and Singapore, the link between them, Singapore's staleness", router)

User = Annotated[str, Form(pattern=USER_PATTERN)]
Amount = Annotated[str, Form(min_length=1, max_length=2 * PRICE_DIGITS)]
Region = Annotated[Literal["new-york", "singapore"], Form()]


def _svc(request: Request) -> TradingService:
    return cast(TradingService, request.app.state.runtime.service(SERVICE, TradingService))


@router.get("")
def trading(
    request: Request,
    user: Annotated[str | None, Query(pattern=USER_PATTERN)] = None,
    visitor: Visitor = Viewer(),
) -> HTMLResponse:
    """Both regions' view of an account, the link and its forwarders; forms for an order and the link."""
    return page(request, "trading.html", title="Trading", view=look(_svc(request), user), max_latency=MAX_LATENCY_MS)


@router.get("/live")
def live(
    request: Request,
    user: Annotated[str | None, Query(pattern=USER_PATTERN)] = None,
    visitor: Visitor = Viewer(),
) -> HTMLResponse:
    """The live panel (the page polls it every second)."""
    return fragment("trading_live.html", view=look(_svc(request), user))


@router.post("/orders")
def order(
    request: Request,
    user: User,
    symbol: Annotated[str, Form(pattern=SYMBOL_PATTERN)],
    quantity: Amount,
    price: Amount,
    side: Annotated[Literal["buy", "sell"], Form()],
    region: Region = "singapore",
    visitor: Visitor = Acting("editor"),
) -> Response:
    """Place an order from a region (Singapore's crosses the link); New York records the trade."""

    def act() -> str:
        trade = _svc(request).order(user, symbol, quantity, price, side=side, region=region).to_dict()
        return (
            f"{'Bought' if side == 'buy' else 'Sold'} {trade['quantity']} {trade['symbol']} at {trade['price']} "
            f"from {region}: recorded in New York on {trade['shard']} at position {trade['token']}; "
            f"cash {trade['cash']}, holding {trade['position']}"
        )

    return _answer(request, user, act)


@router.post("/deposits")
def deposit(
    request: Request, user: User, amount: Amount, region: Region = "singapore", visitor: Visitor = Acting("editor")
) -> Response:
    """Credit cash to an account in New York (from Singapore: over the link)."""

    def act() -> str:
        done = _svc(request).deposit(user, amount, region=region).to_dict()
        return f"Deposited {done['amount']} for {user} from {region}: cash {done['cash']} on {done['shard']}"

    return _answer(request, user, act)


@router.post("/link")
def link(
    request: Request,
    action: Annotated[Literal["cut", "restore", "latency"], Form()],
    latency_ms: Annotated[float, Form(ge=0, le=MAX_LATENCY_MS)] = 0.0,
    user: Annotated[str | None, Form(pattern=USER_PATTERN)] = None,
    visitor: Visitor = Acting("admin"),
) -> Response:
    """Cut the link, restore it, or set its one-way latency (an operator's action)."""

    def act() -> str:
        svc = _svc(request)
        state = {"cut": svc.cut, "restore": svc.restore}.get(action, lambda: svc.set_latency(latency_ms))()
        return f"The link is {'cut' if state.cut else 'up'}, {state.latency_ms:g} ms one way"

    return _answer(request, user, act)


def _answer(request: Request, user: str | None, act: Callable[[], str]) -> Response:
    """The result fragment for htmx (a refusal in it), else a redirect back to the page (a refusal: its page)."""
    back = f"{PREFIX}/trading" + (f"?user={user}" if user else "")
    if request.headers.get("hx-request") != "true":
        act()
        return RedirectResponse(back, status_code=303)
    context: dict[str, Any] = {"ok": True, "message": "", "field": None}
    try:
        context["message"] = act()
    except DatastrataError as refused:
        context.update(ok=False, message=refused.message, field=refused.field)
    return fragment("trading_result.html", **context)
