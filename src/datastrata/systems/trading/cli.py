"""``datastrata trading …``: orders to New York (from Singapore over the link), Singapore's local reads, the link.

The CLI runs both regions in its own process: after a command it carries the command's business events to
Singapore (New York's enrichment, then the forwarders over the link), so the next read sees them — unless the link
is cut, and then they wait in New York until ``link restore``. ``trading up --region …`` runs one region as its
own process instead, the link between them a real socket.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from datastrata.shell import BusOption, CacheOption, JsonOption, StoreOption, emit, remember_stores, service
from datastrata.systems.trading.domain import SIDES
from datastrata.systems.trading.service import SERVICE, TradingService
from datastrata.systems.trading.topology import NEW_YORK, REGIONS, SINGAPORE

app = typer.Typer(
    help="Trading: orders recorded in New York (accounts sharded by user), read locally in Singapore.",
    no_args_is_help=True,
)
link_app = typer.Typer(help="The link between New York and Singapore: cut, restore, status, latency.")
app.add_typer(link_app, name="link")

UserArg = Annotated[str, typer.Argument(help="The account's user id, e.g. mei.")]
RegionOption = Annotated[
    str,
    typer.Option(
        "--region",
        help=f"Where the command is sent from: {' or '.join(REGIONS)} (Singapore's cross the link to New York).",
    ),
]


@app.callback()
def _options(ctx: typer.Context, store: StoreOption = None, bus: BusOption = None, cache: CacheOption = None) -> None:
    """Trading: orders recorded in New York (accounts sharded by user), read locally in Singapore."""
    remember_stores(ctx, store, bus, cache)


def _svc(ctx: typer.Context) -> TradingService:
    return service(ctx, SERVICE, TradingService)


def _settled(svc: TradingService, data: dict[str, Any]) -> dict[str, Any]:
    """Carry what the command caused to Singapore, saying whether it got there."""
    svc.settle()
    waiting = svc.pending()
    return {**data, "singapore": "up to date" if not waiting else f"{waiting} events wait for the link"}


@app.command()
def order(
    ctx: typer.Context,
    user: UserArg,
    symbol: Annotated[str, typer.Argument(help="Ticker symbol, e.g. AAPL.")],
    quantity: Annotated[str, typer.Argument(help="How many shares (up to 4 decimals).")],
    price: Annotated[str, typer.Argument(help="Limit price per share (up to 4 decimals).")],
    side: Annotated[str, typer.Option("--side", help=f"{' or '.join(SIDES)}.")],
    region: RegionOption = NEW_YORK,
    order_id: Annotated[
        str | None,
        typer.Option("--order-id", help="Idempotency key: the same order again returns the trade it made."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Place an order; New York checks cash and holdings (no overspend, no short selling) and records the trade."""
    svc = _svc(ctx)
    trade = svc.order(user, symbol, quantity, price, side=side, region=region, order_id=order_id)
    data = _settled(svc, trade.to_dict())
    emit(data, as_json=as_json, text=lambda d: (
        f"{d['side']} {d['quantity']} {d['symbol']} at {d['price']} for {d['user']}: "
        f"{'already recorded' if d['duplicate'] else 'recorded'} on {d['shard']} (trade {d['trade_id']}); "
        f"cash {d['cash']}, holding {d['position']}; Singapore {d['singapore']}"
    ))  # fmt: skip


@app.command()
def deposit(
    ctx: typer.Context,
    user: UserArg,
    amount: Annotated[str, typer.Argument(help="Cash to credit (up to 2 decimals).")],
    region: RegionOption = NEW_YORK,
    deposit_id: Annotated[str | None, typer.Option("--deposit-id", help="Idempotency key of the deposit.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Credit cash to an account in New York (opening it)."""
    svc = _svc(ctx)
    data = _settled(svc, svc.deposit(user, amount, region=region, key=deposit_id).to_dict())
    emit(data, as_json=as_json, text=lambda d: f"{d['user']}: cash {d['cash']} on {d['shard']}")


@app.command()
def account(ctx: typer.Context, user: UserArg, region: RegionOption = NEW_YORK, as_json: JsonOption = False) -> None:
    """New York's own record of an account (from Singapore this read pays the round trip)."""
    emit(_svc(ctx).account(user, region=region), as_json=as_json, text=lambda d: (
        f"{d['user']} on {d['shard']}: cash {d['cash']}, "
        + (", ".join(f"{p['quantity']} {p['symbol']}" for p in d["positions"]) or "no positions")
    ))  # fmt: skip


@app.command()
def positions(ctx: typer.Context, user: UserArg, as_json: JsonOption = False) -> None:
    """Singapore's local view of a user's positions, valued at the latest local quotes."""
    found = _svc(ctx).positions(user)
    emit(found, as_json=as_json, text=lambda rows: "\n".join(
        f"{p['symbol']}: {p['quantity']} at average {p['average_cost']}, price {p['price']}, "
        f"unrealised {p['unrealised']}, realised {p['realised']}" for p in rows
    ) or f"no positions for {user} in Singapore yet")  # fmt: skip


@app.command()
def pnl(ctx: typer.Context, user: UserArg, as_json: JsonOption = False) -> None:
    """Singapore's local view of a user's profit and portfolio value."""
    emit(_svc(ctx).pnl(user), as_json=as_json, text=lambda d: (
        f"{d['user']}: portfolio {d['total_value']} (cash {d['cash']}, positions {d['positions_value']}); "
        f"realised {d['realised']}, unrealised {d['unrealised']}"
    ))  # fmt: skip


@app.command()
def alerts(ctx: typer.Context, user: UserArg, as_json: JsonOption = False) -> None:
    """Singapore's local risk alerts of a user (exposure and stop-loss), newest first."""
    found = _svc(ctx).alerts(user)
    emit(found, as_json=as_json, text=lambda rows: "\n".join(
        f"{a['raised_at']} {a['rule']} on {a['symbol']}: {a['level']} (limit {a['threshold']})" for a in rows
    ) or f"no alerts for {user}")  # fmt: skip


@app.command()
def quotes(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Singapore's latest quote per symbol (the last tick wins)."""
    found = _svc(ctx).quotes()
    emit(found, as_json=as_json, text=lambda rows: "\n".join(f"{q['symbol']}: {q['price']}" for q in rows)
         or "no quotes yet (feed some: `datastrata trading ticks 1000`)")  # fmt: skip


@app.command()
def ticks(
    ctx: typer.Context,
    count: Annotated[int, typer.Argument(min=1, max=100_000, help="How many synthetic ticks to feed.")],
    as_json: JsonOption = False,
) -> None:
    """Feed synthetic market ticks into Singapore's latest quotes (one batched upsert)."""
    written = _svc(ctx).tick(count)
    emit({"ticks": count, "symbols": written}, as_json=as_json, text=lambda d: f"{d['ticks']} ticks, "
         f"{d['symbols']} symbols quoted")  # fmt: skip


@app.command()
def sync(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Enrich what New York recorded and carry it to Singapore now (what the worker does in the background)."""
    svc = _svc(ctx)
    delivered = svc.catch_up()
    emit(
        {"delivered": delivered, "pending": svc.pending()},
        as_json=as_json,
        text=lambda d: "Singapore is up to date" if d["delivered"] else f"{d['pending']} events wait for the link",
    )


def _link_text(data: dict[str, Any]) -> str:
    return f"link {data['state']}, {data['latency_ms']:g} ms one way" + (
        f"; {data['pending']} events wait in New York" if "pending" in data else ""
    )


@link_app.command("status")
def link_status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The link's state and latency, and what waits to cross."""
    emit(_svc(ctx).link_status(), as_json=as_json, text=_link_text)


@link_app.command("cut")
def link_cut(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Cut the link: Singapore's commands fail, business events wait in New York; reads go on locally."""
    emit(_svc(ctx).cut().to_dict(), as_json=as_json, text=_link_text)


@link_app.command("restore")
def link_restore(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Restore the link and carry what waited to Singapore."""
    svc = _svc(ctx)
    svc.restore()
    svc.settle()
    emit(svc.link_status(), as_json=as_json, text=_link_text)


@link_app.command("latency")
def link_latency(
    ctx: typer.Context,
    latency_ms: Annotated[float, typer.Argument(help="One-way latency in milliseconds (0-500).")],
    as_json: JsonOption = False,
) -> None:
    """Set the link's one-way latency."""
    emit(_svc(ctx).set_latency(latency_ms).to_dict(), as_json=as_json, text=_link_text)


__all__ = ["SINGAPORE", "app"]
