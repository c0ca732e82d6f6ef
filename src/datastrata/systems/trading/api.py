"""HTTP routes of the trading system: commands to New York (from Singapore over the link), Singapore's local reads."""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from datastrata.api.contract import problems
from datastrata.api.idempotency import KeyHeader
from datastrata.systems.trading.domain import ORDER_PATTERN, PRICE_DIGITS, SYMBOL_PATTERN, USER_PATTERN
from datastrata.systems.trading.link import MAX_LATENCY_MS
from datastrata.systems.trading.service import SERVICE, TradingService
from datastrata.systems.trading.singapore import MAX_ALERTS

router = APIRouter(prefix="/trading", tags=["trading"])
#: Seconds ``POST /trading/sync`` waits for Singapore to catch up.
SYNC_WAIT = 10.0

UserPath = Annotated[str, Path(pattern=USER_PATTERN, description="An account's user id, e.g. mei")]
User = Annotated[str, Field(pattern=USER_PATTERN, description="An account's user id, e.g. mei")]
Region = Literal["new-york", "singapore"]
RegionQuery = Annotated[Region, Query(description="Where the read is made from (Singapore's crosses the link)")]
Amount = Annotated[str, Field(min_length=1, max_length=2 * PRICE_DIGITS, description="A decimal as text: 190.25")]


def _svc(request: Request) -> TradingService:
    return cast(TradingService, request.app.state.runtime.service(SERVICE, TradingService))


class OrderIn(BaseModel):
    """An order, sent from a region; New York checks it against cash and holdings."""

    user: User
    symbol: str = Field(pattern=SYMBOL_PATTERN, description="Ticker symbol, e.g. AAPL")
    quantity: Amount
    price: Amount
    side: Literal["buy", "sell"]
    region: Region = Field(default="new-york", description="Where it is sent from (Singapore's cross the link)")
    order_id: str | None = Field(default=None, pattern=ORDER_PATTERN, description="Idempotency key of the order")


class DepositIn(BaseModel):
    """Cash credited to an account (opening it)."""

    user: User
    amount: Amount
    region: Region = "new-york"
    deposit_id: str | None = Field(default=None, pattern=ORDER_PATTERN, description="Idempotency key")


class TicksIn(BaseModel):
    """How many synthetic market ticks to feed into Singapore's quotes."""

    count: int = Field(strict=True, ge=1, le=100_000)


class LatencyIn(BaseModel):
    """The link's one-way latency."""

    latency_ms: float = Field(ge=0, le=MAX_LATENCY_MS)


class TradeOut(BaseModel):
    """A trade as New York recorded it: where (shard, map epoch) and the account after it."""

    trade_id: str
    order_id: str
    user: str
    symbol: str
    side: str
    quantity: str
    price: str
    cash: str = Field(description="The account's cash after the trade")
    position: str = Field(description="The holding of the symbol after the trade")
    shard: str
    epoch: int = Field(description="The epoch of the shard map that placed the account")
    token: int = Field(description="Position of the TradeExecuted event in the shard's log")
    log: str = Field(description="Identity of the shard's log")
    duplicate: bool = Field(description="True when this is the stored result of an earlier order with the id")


class DepositOut(BaseModel):
    """A deposit as recorded: the account's cash after it."""

    user: str
    amount: str
    cash: str
    shard: str
    token: int
    duplicate: bool


class HeldOut(BaseModel):
    """A holding in New York's record."""

    symbol: str
    quantity: str


class TradeRowOut(BaseModel):
    """One of an account's latest trades."""

    trade_id: str
    symbol: str
    side: str
    quantity: str
    price: str


class AccountOut(BaseModel):
    """New York's own record of an account."""

    user: str
    shard: str
    cash: str
    version: int
    positions: list[HeldOut]
    trades: list[TradeRowOut]


class PositionOut(BaseModel):
    """A position in Singapore's read model, valued at the latest local quote."""

    symbol: str
    quantity: str
    average_cost: str
    price: str
    quoted: bool = Field(description="True when valued at a local quote, false at the last trade's price")
    market_value: str
    unrealised: str
    realised: str


class PnlOut(BaseModel):
    """A portfolio's value and profit as Singapore last heard them from New York's enrichment."""

    user: str
    cash: str
    positions_value: str
    total_value: str
    realised: str
    unrealised: str
    recorded_in_new_york_at: str | None
    applied_in_singapore_at: str | None


class AlertOut(BaseModel):
    """A risk rule a position broke."""

    alert_id: str
    rule: str
    symbol: str
    level: str
    threshold: str
    raised_at: str


class QuoteOut(BaseModel):
    """A symbol's latest quote."""

    symbol: str
    price: str
    tick_at: int = Field(description="The tick's time in nanoseconds")


class TicksOut(BaseModel):
    """Ticks fed and the symbols they quoted."""

    ticks: int
    symbols: int


class SyncOut(BaseModel):
    """Whether Singapore caught up, and what still waits in New York."""

    delivered: bool
    pending: int


class LinkOut(BaseModel):
    """The link's state."""

    latency_ms: float
    cut: bool
    state: str


class ForwarderOut(BaseModel):
    """One shard's forwarder: its place in the shard's log and its state."""

    name: str
    kind: str
    state: str
    policy: str
    position: int | None
    head: int | None
    lag: int | None
    last_error: str | None
    failures: int


class LinkStatusOut(LinkOut):
    """The link's state, each forwarder's, and the events waiting in New York."""

    forwarders: list[ForwarderOut]
    pending: int


@router.post("/orders", status_code=201, responses=problems(409, 503), response_model=TradeOut)
def post_order(body: OrderIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Place an order; New York records the trade and its event in one transaction on the user's shard."""
    trade = _svc(request).order(
        body.user, body.symbol, body.quantity, body.price, side=body.side, region=body.region,
        order_id=key.with_body(body.order_id),
    )  # fmt: skip
    return trade.to_dict()


@router.post("/deposits", status_code=201, responses=problems(409, 503), response_model=DepositOut)
def post_deposit(body: DepositIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Credit cash to an account in New York."""
    return (
        _svc(request).deposit(body.user, body.amount, region=body.region, key=key.with_body(body.deposit_id)).to_dict()
    )


@router.get("/accounts/{user}", responses=problems(404, 503), response_model=AccountOut)
def get_account(user: UserPath, request: Request, region: RegionQuery = "new-york") -> dict[str, Any]:
    """New York's own record of an account (from Singapore: one round trip over the link)."""
    return _svc(request).account(user, region=region)


@router.get("/positions/{user}", responses=problems(), response_model=list[PositionOut])
def get_positions(user: UserPath, request: Request) -> list[dict[str, Any]]:
    """Singapore's local view of a user's positions, valued at the latest local quotes."""
    return _svc(request).positions(user)


@router.get("/pnl/{user}", responses=problems(), response_model=PnlOut)
def get_pnl(user: UserPath, request: Request) -> dict[str, Any]:
    """Singapore's local view of a user's profit and portfolio value."""
    return _svc(request).pnl(user)


@router.get("/alerts/{user}", responses=problems(), response_model=list[AlertOut])
def get_alerts(
    user: UserPath, request: Request, limit: Annotated[int, Query(ge=1, le=MAX_ALERTS)] = 100
) -> list[dict[str, Any]]:
    """Singapore's local risk alerts of a user, newest first."""
    return _svc(request).alerts(user, limit=limit)


@router.get("/quotes", responses=problems(), response_model=list[QuoteOut])
def get_quotes(request: Request) -> list[dict[str, Any]]:
    """Singapore's latest quote per symbol."""
    return _svc(request).quotes()


@router.post("/ticks", responses=problems(), response_model=TicksOut)
def post_ticks(body: TicksIn, request: Request) -> dict[str, Any]:
    """Feed synthetic ticks into Singapore's latest quotes (one batched upsert)."""
    return {"ticks": body.count, "symbols": _svc(request).tick(body.count)}


@router.post("/sync", responses=problems(), response_model=SyncOut)
def post_sync(request: Request) -> dict[str, Any]:
    """Carry what New York recorded to Singapore and wait (up to 10 s, not while the link is cut) until it is there."""
    svc = _svc(request)
    return {"delivered": svc.catch_up(timeout=SYNC_WAIT), "pending": svc.pending()}


@router.get("/link", responses=problems(), response_model=LinkStatusOut)
def get_link(request: Request) -> dict[str, Any]:
    """The link's state and latency, each forwarder's place, and what waits to cross."""
    return _svc(request).link_status()


@router.put("/link", responses=problems(), response_model=LinkOut)
def put_link(body: LatencyIn, request: Request) -> dict[str, Any]:
    """Set the link's one-way latency."""
    return _svc(request).set_latency(body.latency_ms).to_dict()


@router.post("/link/cut", responses=problems(), response_model=LinkOut)
def post_link_cut(request: Request) -> dict[str, Any]:
    """Cut the link between the regions."""
    return _svc(request).cut().to_dict()


@router.post("/link/restore", responses=problems(), response_model=LinkOut)
def post_link_restore(request: Request) -> dict[str, Any]:
    """Restore the link."""
    return _svc(request).restore().to_dict()
