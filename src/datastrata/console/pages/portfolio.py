"""The portfolio page: an account's event timeline, time travel by version or business time, and a deposit form."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, cast

from fastapi import Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from datastrata.console.access import Acting, Viewer, Visitor
from datastrata.console.charts.timeline import Moment, timeline
from datastrata.console.pages import Page
from datastrata.console.render import PREFIX, fragment, page
from datastrata.console.routing import console_router
from datastrata.core.clock import ensure_utc
from datastrata.core.errors import NotFound, ValidationError
from datastrata.core.events import Event
from datastrata.core.validation import MAX_INT
from datastrata.systems.portfolio.domain import PortfolioState
from datastrata.systems.portfolio.service import PortfolioService
from datastrata.systems.portfolio.tour import PORTFOLIO

router = console_router("portfolio")
PAGE = Page(
    "portfolio",
    "Portfolio",
    20,
    "An account's events, replayed to any version or business time: holdings and cash at that moment.",
    router,
)
#: The most events the timeline shows (the latest ones; time travel reaches any version).
SHOWN = 500
#: Business-time slider steps, in seconds.
STEP = 60

PortfolioQuery = Annotated[str, Query(description="the portfolio to show")]
VersionQuery = Annotated[int | None, Query(ge=0, le=MAX_INT, description="replay the first N events")]
AtQuery = Annotated[int | None, Query(ge=0, le=MAX_INT, description="replay up to this business time (Unix s)")]


def service(request: Request) -> PortfolioService:
    """The portfolio service the API routes use."""
    return cast(PortfolioService, request.app.state.runtime.service("portfolio", PortfolioService))


@dataclass(frozen=True, slots=True)
class Travel:
    """A portfolio replayed to one moment: the state then, the events around it, and the sliders' ranges."""

    portfolio_id: str
    head: int
    state: PortfolioState | None
    events: list[Event]
    marker: datetime | None
    by: str

    @property
    def view(self) -> dict[str, Any]:
        """The state at the moment as the API shows it (cash and non-zero holdings as text)."""
        return self.state.to_dict() if self.state is not None else {"cash": "0.00", "holdings": {}, "version": 0}

    @property
    def first(self) -> int:
        """The business-time slider's start: a step before the first event shown (Unix seconds)."""
        return _epoch(self.events[0].occurred_at) - STEP if self.events else 0

    @property
    def last(self) -> int:
        """The business-time slider's end: the latest event (Unix seconds)."""
        return _epoch(self.events[-1].occurred_at) if self.events else 0

    @property
    def at(self) -> int:
        """Where the business-time slider stands."""
        return self.first if self.marker is None else max(self.first, _epoch(self.marker))

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The events shown, newest first, each marked as in the moment's past or future."""
        version = self.view["version"]
        return [
            {
                "version": e.version,
                "type": e.type,
                "terms": _terms(e),
                "occurred_at": e.occurred_at.isoformat(),
                "recorded_at": e.recorded_at.isoformat(timespec="seconds"),
                "past": e.version <= version,
            }
            for e in reversed(self.events)
        ]

    def chart(self) -> Any:
        """The timeline of the events shown, the moment marked."""
        moments = [Moment(e.occurred_at, e.type, f"v{e.version} {e.type} {_terms(e)}") for e in self.events]
        return timeline(moments, label=f"events of {self.portfolio_id} by business time", marker=self.marker)


def travel(svc: PortfolioService, portfolio_id: str, at_version: int | None, at: int | None) -> Travel:
    """Replay `portfolio_id` to version `at_version`, to business time `at`, or to now (one of them at most)."""
    if at_version is not None and at is not None:
        raise ValidationError("travel by version or by business time, not both", field="at")
    try:
        now = svc.state(portfolio_id)
    except NotFound:
        svc.scope(portfolio_id)  # a malformed id is a bad request, not an empty portfolio
        return Travel(portfolio_id, 0, None, [], None, "now")
    events = svc.events(portfolio_id, after_version=max(0, now.version - SHOWN), limit=SHOWN)
    if at is not None:
        moment = datetime.fromtimestamp(at, UTC)
        return Travel(portfolio_id, now.version, svc.state(portfolio_id, as_of=moment), events, moment, "time")
    if at_version is not None:
        then = svc.state(portfolio_id, at_version=at_version)
        marker = next((e.occurred_at for e in events if e.version == then.version), None)
        return Travel(portfolio_id, now.version, then, events, marker, "version")
    return Travel(portfolio_id, now.version, now, events, events[-1].occurred_at if events else None, "now")


def chosen(
    request: Request,
    portfolio_id: PortfolioQuery = PORTFOLIO,
    at_version: VersionQuery = None,
    at: AtQuery = None,
) -> Travel:
    """The moment the request asks for (the query's portfolio, version or business time), replayed."""
    return travel(service(request), portfolio_id, at_version, at)


Chosen = Annotated[Travel, Depends(chosen)]


@router.get("")
def portfolio_page(request: Request, shown: Chosen, visitor: Visitor = Viewer()) -> HTMLResponse:
    """The portfolio: its timeline, the state at the chosen moment (now by default), the deposit form."""
    return page(
        request, "portfolio.html", title="Portfolio", travel=shown, event_id=secrets.token_urlsafe(12), step=STEP
    )


@router.get("/moment")
def portfolio_moment(shown: Chosen, visitor: Visitor = Viewer()) -> HTMLResponse:
    """The htmx swap of the time-travel sliders: the state, timeline and events at the chosen moment."""
    return fragment("portfolio_moment.html", travel=shown)


@router.post("/deposit")
def portfolio_deposit(
    request: Request,
    portfolio_id: Annotated[str, Form()],
    amount: Annotated[str, Form()],
    at: Annotated[str, Form()] = "",
    event_id: Annotated[str, Form()] = "",
    visitor: Visitor = Acting("editor"),
) -> RedirectResponse:
    """Deposit cash (business time `at` in UTC, default now); a resubmitted form is the same deposit."""
    service(request).deposit(
        portfolio_id, amount.strip(), at=_business_time(at), event_id=f"console-{event_id}" if event_id else None
    )
    return RedirectResponse(f"{PREFIX}/portfolio?{_query(portfolio_id)}", status_code=303)


def _business_time(text: str) -> datetime | None:
    """A form's business time: a datetime-local value read as UTC, or None (now)."""
    if not text.strip():
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"at must be a time such as 2025-09-12T13:00 (UTC); got {text!r}", field="at") from None
    return ensure_utc(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC), field="at")


def _query(portfolio_id: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"portfolio_id": portfolio_id})


def _epoch(at: datetime) -> int:
    return int((at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1))


def _terms(event: Event) -> str:
    """An event's payload in a line: ``10000`` or ``AAPL 10 @ 175``."""
    p = event.payload
    if "symbol" in p:
        return f"{p['symbol']} {p['quantity']} @ {p['price']}"
    return str(p.get("amount", ""))
