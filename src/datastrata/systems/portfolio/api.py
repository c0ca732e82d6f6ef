"""HTTP routes of the portfolio system."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from datastrata.core.clock import optional_utc
from datastrata.systems.portfolio.service import PortfolioService

router = APIRouter(tags=["portfolio"])


def _svc(request: Request) -> PortfolioService:
    return cast(PortfolioService, request.app.state.runtime.service("portfolio", PortfolioService))


class CashIn(BaseModel):
    """A deposit or withdrawal."""

    amount: Decimal = Field(description="Amount of cash (> 0), e.g. 10000")
    at: datetime | None = Field(default=None, description="Business time (ISO-8601 with offset); default now")
    event_id: str | None = Field(default=None, description="Event id, so a retried request is stored once")


class TradeIn(BaseModel):
    """A buy or a sell."""

    side: Literal["buy", "sell"]
    symbol: str = Field(description="Ticker: 1-10 of A-Z, digits and '.'")
    quantity: Decimal = Field(description="Number of shares (> 0)")
    price: Decimal = Field(description="Price per share (> 0)")
    at: datetime | None = None
    event_id: str | None = None


@router.post("/portfolios/{portfolio_id}/deposits", status_code=201)
def post_deposit(portfolio_id: str, body: CashIn, request: Request) -> dict[str, Any]:
    """Deposit cash."""
    return (
        _svc(request)
        .deposit(portfolio_id, body.amount, at=optional_utc(body.at, field="at"), event_id=body.event_id)
        .to_dict()
    )


@router.post("/portfolios/{portfolio_id}/withdrawals", status_code=201)
def post_withdrawal(portfolio_id: str, body: CashIn, request: Request) -> dict[str, Any]:
    """Withdraw cash."""
    return (
        _svc(request)
        .withdraw(portfolio_id, body.amount, at=optional_utc(body.at, field="at"), event_id=body.event_id)
        .to_dict()
    )


@router.post("/portfolios/{portfolio_id}/trades", status_code=201)
def post_trade(portfolio_id: str, body: TradeIn, request: Request) -> dict[str, Any]:
    """Buy or sell shares."""
    return (
        _svc(request)
        .trade(
            portfolio_id,
            body.side,
            body.symbol,
            body.quantity,
            body.price,
            at=optional_utc(body.at, field="at"),
            event_id=body.event_id,
        )
        .to_dict()
    )


@router.get("/portfolios/{portfolio_id}")
def get_portfolio(
    portfolio_id: str,
    request: Request,
    as_of: Annotated[datetime | None, Query(description="Replay events with business time <= as_of")] = None,
    at_version: Annotated[int | None, Query(description="Replay the first N events")] = None,
) -> dict[str, Any]:
    """Rebuild a portfolio's state by replay."""
    return _svc(request).state(portfolio_id, as_of=optional_utc(as_of, field="as_of"), at_version=at_version).to_dict()


@router.get("/portfolios/{portfolio_id}/events")
def get_events(portfolio_id: str, request: Request) -> list[dict[str, Any]]:
    """List a portfolio's events."""
    return [e.to_dict() for e in _svc(request).events(portfolio_id)]


@router.get("/holders/{symbol}")
def get_holders(
    symbol: str,
    request: Request,
    response: Response,
    after: Annotated[int | None, Query(description="Consistency token: wait for this position")] = None,
) -> list[dict[str, str]]:
    """List who holds a symbol, from the holders projection (headers say how fresh: position, stale-by, state)."""
    holders, fresh = _svc(request).holders_with_freshness(symbol, after=after)
    response.headers["X-Datastrata-Position"] = str(fresh.position)
    response.headers["X-Datastrata-Stale-By"] = str(fresh.stale_by)
    response.headers["X-Datastrata-Follower-State"] = fresh.state
    return holders
