"""``datastrata portfolio …``: deposit, withdraw, buy, sell, state, events, holders."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from datastrata.shell import (
    BusOption,
    CacheOption,
    EventIdOption,
    JsonOption,
    LogOption,
    StoreOption,
    ascii_int,
    emit,
    remember_stores,
    service,
    time_option,
)
from datastrata.systems.portfolio.service import PortfolioService

app = typer.Typer(
    help="Event-sourced investment portfolios (the source article's TradingEvents).", no_args_is_help=True
)

PortfolioArg = Annotated[str, typer.Argument(help="Portfolio id, e.g. user123-portfolio-A.")]
AtOption = Annotated[str | None, typer.Option("--at", help="Business time (ISO-8601); default now.")]


@app.callback()
def _options(ctx: typer.Context, store: StoreOption = None, bus: BusOption = None, cache: CacheOption = None) -> None:
    """Event-sourced investment portfolios."""
    remember_stores(ctx, store, bus, cache)


def _svc(ctx: typer.Context) -> PortfolioService:
    return service(ctx, "portfolio", PortfolioService)


def _recorded(data: dict[str, Any]) -> str:
    again = " (already recorded; nothing new stored)" if data["duplicate"] else ""
    return (
        f"{data['type']} recorded in {data['portfolio_id']} at version {data['version']} "
        f"(position {data['position']}){again}"
    )


@app.command()
def deposit(
    ctx: typer.Context,
    portfolio_id: PortfolioArg,
    amount: Annotated[str, typer.Argument(help="Amount of cash, e.g. 10000.")],
    at: AtOption = None,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deposit cash into a portfolio."""
    result = _svc(ctx).deposit(portfolio_id, amount, at=time_option(at, field="at"), event_id=event_id)
    emit(result.to_dict(), as_json=as_json, text=_recorded)


@app.command()
def withdraw(
    ctx: typer.Context,
    portfolio_id: PortfolioArg,
    amount: Annotated[str, typer.Argument(help="Amount of cash.")],
    at: AtOption = None,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Withdraw cash the portfolio holds."""
    result = _svc(ctx).withdraw(portfolio_id, amount, at=time_option(at, field="at"), event_id=event_id)
    emit(result.to_dict(), as_json=as_json, text=_recorded)


@app.command()
def buy(
    ctx: typer.Context,
    portfolio_id: PortfolioArg,
    symbol: Annotated[str, typer.Argument(help="Ticker: 1-10 of A-Z, digits and '.'.")],
    quantity: Annotated[str, typer.Argument(help="Number of shares (> 0).")],
    price: Annotated[str, typer.Argument(help="Price per share (> 0).")],
    at: AtOption = None,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Buy shares with the portfolio's cash."""
    result = _svc(ctx).buy(portfolio_id, symbol, quantity, price, at=time_option(at, field="at"), event_id=event_id)
    emit(result.to_dict(), as_json=as_json, text=_recorded)


@app.command()
def sell(
    ctx: typer.Context,
    portfolio_id: PortfolioArg,
    symbol: Annotated[str, typer.Argument(help="Ticker: 1-10 of A-Z, digits and '.'.")],
    quantity: Annotated[str, typer.Argument(help="Number of shares (> 0).")],
    price: Annotated[str, typer.Argument(help="Price per share (> 0).")],
    at: AtOption = None,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sell shares the portfolio holds."""
    result = _svc(ctx).sell(portfolio_id, symbol, quantity, price, at=time_option(at, field="at"), event_id=event_id)
    emit(result.to_dict(), as_json=as_json, text=_recorded)


@app.command()
def state(
    ctx: typer.Context,
    portfolio_id: PortfolioArg,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Replay events whose business time <= this.")] = None,
    at_version: Annotated[
        int | None, typer.Option("--at-version", parser=ascii_int, help="Replay the first N events.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Rebuild a portfolio's cash and holdings by replaying its events (printed as JSON)."""
    result = _svc(ctx).state(portfolio_id, as_of=time_option(as_of, field="as_of"), at_version=at_version)
    emit(result.to_dict(), as_json=as_json)


@app.command()
def events(ctx: typer.Context, portfolio_id: PortfolioArg, as_json: JsonOption = False) -> None:
    """List a portfolio's events in order."""
    found = [e.to_dict() for e in _svc(ctx).events(portfolio_id)]
    emit(
        found,
        as_json=as_json,
        text=lambda rows: "\n".join(
            f"{r['version']:>4}  {r['occurred_at']}  {r['type']:<15} {_payload_text(r['payload'])}" for r in rows
        ),
    )


@app.command()
def holders(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Ticker.")],
    after: Annotated[
        int | None, typer.Option("--after", parser=ascii_int, help="Consistency token: wait for this position.")
    ] = None,
    log: LogOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the portfolios that hold a symbol (from the holders projection)."""
    found = _svc(ctx).holders(symbol, after=after, log=log)
    emit(
        found,
        as_json=as_json,
        text=lambda rows: "\n".join(f"{r['portfolio_id']}  {r['quantity']}" for r in rows) or f"nobody holds {symbol}",
    )


def _payload_text(payload: dict[str, Any]) -> str:
    if "symbol" in payload:
        return f"{payload['symbol']} {payload['quantity']} @ {payload['price']}"
    return str(payload.get("amount", ""))
