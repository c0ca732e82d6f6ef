"""``datastrata trading …``: orders to New York (from Singapore over the link), Singapore's local reads, the link.

The CLI runs both regions in its own process: after a command it carries the command's business events to
Singapore (New York's enrichment, then the forwarders over the link), so the next read sees them — unless the link
is cut, and then they wait in New York until ``link restore``. ``trading up --region …`` runs one region as its
own process instead, the link between them a real socket.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from datastrata.shell import BusOption, CacheOption, JsonOption, StoreOption, emit, remember_stores, service, session
from datastrata.systems.trading.domain import SIDES, check_user
from datastrata.systems.trading.service import SERVICE, TradingService, check_region
from datastrata.systems.trading.topology import NEW_YORK, REGIONS, SINGAPORE, topology
from datastrata.systems.trading.up import ALL, check_up_region, run_all, serve_region
from datastrata.systems.trading.wire import RegionClient, running

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


def _running(ctx: typer.Context, region: str) -> RegionClient | None:
    """A client of `region`'s process when ``trading up`` runs it on this host (the command goes there), else None."""
    folder = topology(session(ctx).settings()).folder
    return RegionClient(folder, region) if running(folder, region) is not None else None


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
    remote = _running(ctx, check_region(region))
    if remote is not None:  # the region's own process sends it (from Singapore: over the link)
        body = {"user": user, "symbol": symbol, "quantity": quantity, "price": price, "side": side,
                "order_id": order_id}  # fmt: skip
        data = {**remote.post("/orders", body), "singapore": "carried by the running regions"}
    else:
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
    remote = _running(ctx, check_region(region))
    if remote is not None:
        data = remote.post("/deposits", {"user": user, "amount": amount, "deposit_id": deposit_id})
    else:
        svc = _svc(ctx)
        data = _settled(svc, svc.deposit(user, amount, region=region, key=deposit_id).to_dict())
    emit(data, as_json=as_json, text=lambda d: f"{d['user']}: cash {d['cash']} on {d['shard']}")


@app.command()
def account(ctx: typer.Context, user: UserArg, region: RegionOption = NEW_YORK, as_json: JsonOption = False) -> None:
    """New York's own record of an account (from Singapore this read pays the round trip)."""
    remote = _running(ctx, check_region(region))
    found = remote.get(f"/accounts/{check_user(user)}") if remote else _svc(ctx).account(user, region=region)
    emit(found, as_json=as_json, text=lambda d: (
        f"{d['user']} on {d['shard']}: cash {d['cash']}, "
        + (", ".join(f"{p['quantity']} {p['symbol']}" for p in d["positions"]) or "no positions")
    ))  # fmt: skip


@app.command()
def positions(ctx: typer.Context, user: UserArg, as_json: JsonOption = False) -> None:
    """Singapore's local view of a user's positions, valued at the latest local quotes."""
    remote = _running(ctx, SINGAPORE)
    found = remote.get(f"/positions/{check_user(user)}") if remote else _svc(ctx).positions(user)
    emit(found, as_json=as_json, text=lambda rows: "\n".join(
        f"{p['symbol']}: {p['quantity']} at average {p['average_cost']}, price {p['price']}, "
        f"unrealised {p['unrealised']}, realised {p['realised']}" for p in rows
    ) or f"no positions for {user} in Singapore yet")  # fmt: skip


@app.command()
def pnl(ctx: typer.Context, user: UserArg, as_json: JsonOption = False) -> None:
    """Singapore's local view of a user's profit and portfolio value."""
    remote = _running(ctx, SINGAPORE)
    emit(remote.get(f"/pnl/{check_user(user)}") if remote else _svc(ctx).pnl(user), as_json=as_json, text=lambda d: (
        f"{d['user']}: portfolio {d['total_value']} (cash {d['cash']}, positions {d['positions_value']}); "
        f"realised {d['realised']}, unrealised {d['unrealised']}"
    ))  # fmt: skip


@app.command()
def alerts(ctx: typer.Context, user: UserArg, as_json: JsonOption = False) -> None:
    """Singapore's local risk alerts of a user (exposure and stop-loss), newest first."""
    remote = _running(ctx, SINGAPORE)
    found = remote.get(f"/alerts/{check_user(user)}") if remote else _svc(ctx).alerts(user)
    emit(found, as_json=as_json, text=lambda rows: "\n".join(
        f"{a['raised_at']} {a['rule']} on {a['symbol']}: {a['level']} (limit {a['threshold']})" for a in rows
    ) or f"no alerts for {user}")  # fmt: skip


@app.command()
def quotes(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Singapore's latest quote per symbol (the last tick wins)."""
    remote = _running(ctx, SINGAPORE)
    found = remote.get("/quotes") if remote else _svc(ctx).quotes()
    emit(found, as_json=as_json, text=lambda rows: "\n".join(f"{q['symbol']}: {q['price']}" for q in rows)
         or "no quotes yet (feed some: `datastrata trading ticks 1000`)")  # fmt: skip


@app.command()
def ticks(
    ctx: typer.Context,
    count: Annotated[int, typer.Argument(min=1, max=100_000, help="How many synthetic ticks to feed.")],
    as_json: JsonOption = False,
) -> None:
    """Feed synthetic market ticks into Singapore's latest quotes (one batched upsert)."""
    remote = _running(ctx, SINGAPORE)
    written = remote.post("/ticks", {"count": count})["symbols"] if remote else _svc(ctx).tick(count)
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


def _up_regions(ctx: typer.Context) -> dict[str, RegionClient]:
    """Clients of the region processes ``trading up`` runs on this host (none: the CLI runs both regions itself)."""
    return {region: client for region in REGIONS if (client := _running(ctx, region)) is not None}


def _up_status(regions: dict[str, RegionClient]) -> dict[str, Any]:
    """The link as the running processes see it, with New York's forwarders and what Singapore applied."""
    answers = {region: client.get("/status") for region, client in regions.items()}
    first = next(iter(answers.values()))
    data: dict[str, Any] = {**first["link"], "regions": answers}
    if NEW_YORK in answers:
        data["pending"] = answers[NEW_YORK]["pending"]
        data["forwarders"] = answers[NEW_YORK]["forwarders"]
    return data


def _change_link(ctx: typer.Context, body: dict[str, Any]) -> dict[str, Any] | None:
    """Tell the running region processes to change the link (they share its state); None when none runs."""
    regions = _up_regions(ctx)
    if not regions:
        return None
    next(iter(regions.values())).post("/link", body)
    return _up_status(regions)


@link_app.command("status")
def link_status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The link's state and latency, and what waits to cross (from the running regions when they are up)."""
    regions = _up_regions(ctx)
    emit(_up_status(regions) if regions else _svc(ctx).link_status(), as_json=as_json, text=_link_text)


@link_app.command("cut")
def link_cut(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Cut the link: Singapore's commands fail, business events wait in New York; reads go on locally."""
    data = _change_link(ctx, {"cut": True})
    emit(data if data is not None else _svc(ctx).cut().to_dict(), as_json=as_json, text=_link_text)


@link_app.command("restore")
def link_restore(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Restore the link and carry what waited to Singapore."""
    data = _change_link(ctx, {"cut": False})
    if data is None:
        svc = _svc(ctx)
        svc.restore()
        svc.settle()
        data = svc.link_status()
    emit(data, as_json=as_json, text=_link_text)


@link_app.command("latency")
def link_latency(
    ctx: typer.Context,
    latency_ms: Annotated[float, typer.Argument(help="One-way latency in milliseconds (0-500).")],
    as_json: JsonOption = False,
) -> None:
    """Set the link's one-way latency."""
    data = _change_link(ctx, {"latency_ms": latency_ms})
    emit(data if data is not None else _svc(ctx).set_latency(latency_ms).to_dict(), as_json=as_json, text=_link_text)


@app.command()
def up(
    ctx: typer.Context,
    region: Annotated[
        str, typer.Option("--region", help=f"{ALL} (two child processes), {' or '.join(REGIONS)}.")
    ] = ALL,
    host: Annotated[str, typer.Option("--host", help="The address the region listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="The port (0: any free one; all: New York's, Singapore +1).")] = 0,
    latency_ms: Annotated[
        float | None, typer.Option("--latency-ms", help="Set the link's one-way latency (ms, 0-500) first.")
    ] = None,
) -> None:
    """Run a region as its own process (its own stores, its socket) until SIGTERM; the link between them is real."""
    chosen = check_up_region(region)
    settings = session(ctx).settings()
    if chosen == ALL:
        raise typer.Exit(run_all(settings, host=host, port=port, latency_ms=latency_ms, say=typer.echo))
    serve_region(settings, chosen, host=host, port=port, latency_ms=latency_ms, say=typer.echo)


__all__ = ["SINGAPORE", "app"]
