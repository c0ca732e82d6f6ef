"""HTTP routes of the portfolio system."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from datastrata.api.contract import problems
from datastrata.api.idempotency import EventIdField, KeyHeader
from datastrata.api.pagination import CursorQuery, LimitQuery, Page, keyset_after, keyset_page, needed, paginate
from datastrata.api.waiting import AfterQuery, LogQuery, TimeoutQuery, await_applied, follower_state
from datastrata.core.clock import optional_utc
from datastrata.core.validation import MAX_INT
from datastrata.systems.portfolio.domain import AMOUNT_PATTERN
from datastrata.systems.portfolio.service import PortfolioService

router = APIRouter(tags=["portfolio"])

PortfolioPath = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", description="Portfolio id, e.g. user123-portfolio-A")
]
SymbolPath = Annotated[str, Path(pattern=r"^[A-Z0-9.]{1,10}$", description="Ticker: 1-10 of A-Z, digits and '.'")]
Amount = Annotated[
    str,
    Field(
        pattern=AMOUNT_PATTERN,
        max_length=32,
        description="A decimal > 0 as text in plain ASCII digits, at most 15 digits and 8 decimals, e.g. '10000'",
    ),
]


def _svc(request: Request) -> PortfolioService:
    return cast(PortfolioService, request.app.state.runtime.service("portfolio", PortfolioService))


class CashIn(BaseModel):
    """A deposit or withdrawal."""

    amount: Amount
    at: datetime | None = Field(default=None, description="Business time (ISO-8601 with offset); default now")
    event_id: EventIdField = Field(default=None, description="Idempotency key (or send the Idempotency-Key header)")


class TradeIn(BaseModel):
    """A buy or a sell."""

    side: Literal["buy", "sell"]
    symbol: str = Field(pattern=r"^[A-Z0-9.]{1,10}$", description="Ticker: 1-10 of A-Z, digits and '.'")
    quantity: Amount
    price: Amount
    at: datetime | None = None
    event_id: EventIdField = Field(default=None, description="Idempotency key (or send the Idempotency-Key header)")


class RecordedOut(BaseModel):
    """A recorded command: its event, the stream version and the log position (the consistency token)."""

    portfolio_id: str
    event_id: str
    type: str
    version: int
    position: int
    token: int = Field(description="Consistency token: pass it to a query as `after`, with `log`")
    log: str = Field(description="Identity of the log the token is a position of")
    duplicate: bool = Field(description="True when this is the stored result of an earlier request with the key")


class StateOut(BaseModel):
    """A portfolio's state: cash and non-zero holdings as decimal text."""

    portfolio_id: str
    cash: str
    holdings: dict[str, str]
    version: int


class EventOut(BaseModel):
    """One stored event: its stream version, log position, payload and both times."""

    stream_id: str
    version: int
    position: int
    event_id: str
    type: str
    schema_version: int
    payload: dict[str, Any]
    metadata: dict[str, Any]
    occurred_at: str
    recorded_at: str
    tenant_id: str


class HolderOut(BaseModel):
    """A portfolio holding the symbol, and how many shares."""

    portfolio_id: str
    quantity: str


@router.post("/portfolios/{portfolio_id}/deposits", status_code=201, responses=problems(409))
def post_deposit(portfolio_id: PortfolioPath, body: CashIn, request: Request, key: KeyHeader) -> RecordedOut:
    """Deposit cash."""
    at = optional_utc(body.at, field="at")
    return RecordedOut(
        **_svc(request).deposit(portfolio_id, body.amount, at=at, event_id=key.with_body(body.event_id)).to_dict()
    )


@router.post("/portfolios/{portfolio_id}/withdrawals", status_code=201, responses=problems(409))
def post_withdrawal(portfolio_id: PortfolioPath, body: CashIn, request: Request, key: KeyHeader) -> RecordedOut:
    """Withdraw cash."""
    at = optional_utc(body.at, field="at")
    return RecordedOut(
        **_svc(request).withdraw(portfolio_id, body.amount, at=at, event_id=key.with_body(body.event_id)).to_dict()
    )


@router.post("/portfolios/{portfolio_id}/trades", status_code=201, responses=problems(409))
def post_trade(portfolio_id: PortfolioPath, body: TradeIn, request: Request, key: KeyHeader) -> RecordedOut:
    """Buy or sell shares."""
    recorded = _svc(request).trade(
        portfolio_id,
        body.side,
        body.symbol,
        body.quantity,
        body.price,
        at=optional_utc(body.at, field="at"),
        event_id=key.with_body(body.event_id),
    )
    return RecordedOut(**recorded.to_dict())


@router.get("/portfolios/{portfolio_id}", responses=problems(404))
def get_portfolio(
    portfolio_id: PortfolioPath,
    request: Request,
    as_of: Annotated[datetime | None, Query(description="Replay events with business time <= as_of")] = None,
    at_version: Annotated[int | None, Query(ge=0, le=MAX_INT, description="Replay the first N events")] = None,
) -> StateOut:
    """Rebuild a portfolio's state by replay."""
    found = _svc(request).state(portfolio_id, as_of=optional_utc(as_of, field="as_of"), at_version=at_version)
    return StateOut(**found.to_dict())


@router.get("/portfolios/{portfolio_id}/events", responses=problems(404))
def get_events(
    portfolio_id: PortfolioPath, request: Request, limit: LimitQuery = 100, cursor: CursorQuery = None
) -> Page[EventOut]:
    """List a portfolio's events, oldest first, a page at a time (a version cursor: stable while events append)."""
    after = keyset_after(cursor, "events", (int,))
    found = _svc(request).events(portfolio_id, after_version=0 if after is None else after[0], limit=limit + 1)
    events = [EventOut(**e.to_dict()) for e in found]
    return keyset_page(events, kind="events", limit=limit, key=lambda e: (e.version,))


@router.get("/holders/{symbol}", responses=problems(409, 504))
async def get_holders(
    symbol: SymbolPath,
    request: Request,
    response: Response,
    after: AfterQuery = None,
    log: LogQuery = None,
    timeout: TimeoutQuery = 5.0,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> Page[HolderOut]:
    """Who holds a symbol, from the holders projection as it stands (headers: position, stale-by, state).

    With `after` the read first waits (without holding a server thread) until the worker has applied the token.
    """
    svc = _svc(request)
    needed(cursor, "holders", limit)
    runner = await run_in_threadpool(svc.holders_for)  # the follower of the caller's own location
    await await_applied(runner, after, timeout, log=log)
    holders, fresh = await run_in_threadpool(svc.holders_with_freshness, symbol, after=after, catch_up=False)
    response.headers["X-Datastrata-Position"] = str(fresh.position)
    response.headers["X-Datastrata-Stale-By"] = str(fresh.stale_by)
    state = await run_in_threadpool(follower_state, request.app.state.runtime, runner.name, fresh.state)
    response.headers["X-Datastrata-Follower-State"] = state
    return paginate([HolderOut(**h) for h in holders], kind="holders", limit=limit, cursor=cursor, offset=0)
