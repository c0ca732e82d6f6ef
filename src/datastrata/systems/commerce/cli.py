"""``datastrata commerce …``: the commerce services from the shell — products, stock, users and orders.

Each command goes to the one service that owns the data (its own store); after a command the services' relays and
consumers run until the events it recorded are handled (the notification service's messages included). While
``commerce up`` runs the owning service's process on this host, the command goes to that process instead (through
its HTTP client), and the running processes carry the order on.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from datastrata.services.sagas import present
from datastrata.services.sagas.log import CONTEXT as SAGAS
from datastrata.shell import (
    BusOption,
    CacheOption,
    JsonOption,
    StoreOption,
    emit,
    remember_stores,
    service,
    session,
)
from datastrata.systems.commerce.domain import CATALOGUE, CHOREOGRAPHED, INVENTORY, ORDERS, TEMPORAL, USERS
from datastrata.systems.commerce.processes import PROCESSES
from datastrata.systems.commerce.remote import Remote
from datastrata.systems.commerce.service import SERVICE, CommerceService

app = typer.Typer(
    help="Database per service: catalogue, users, inventory, payment, orders and notification, each its own store.",
    no_args_is_help=True,
)
product_app = typer.Typer(help="The product catalogue: add products, search them in full text.", no_args_is_help=True)
stock_app = typer.Typer(help="The inventory: stock on hand, reserved and available.", no_args_is_help=True)
order_app = typer.Typer(help="Orders: place one (saved PENDING, OrderCreated recorded), show one.")
user_app = typer.Typer(help="The user service: register customers.", no_args_is_help=True)
saga_app = typer.Typer(help="The order saga: an order's saga timeline, from the saga log or from Temporal.")
app.add_typer(product_app, name="product")
app.add_typer(stock_app, name="stock")
app.add_typer(order_app, name="order")
app.add_typer(user_app, name="user")
app.add_typer(saga_app, name="saga")

SkuArg = Annotated[str, typer.Argument(help="The product's SKU, e.g. sku-1.")]
OrderArg = Annotated[str, typer.Argument(help="The order's id.")]


@app.callback()
def _options(ctx: typer.Context, store: StoreOption = None, bus: BusOption = None, cache: CacheOption = None) -> None:
    """Database per service: catalogue, users, inventory, payment, orders and notification, each its own store."""
    remember_stores(ctx, store, bus, cache)


def _svc(ctx: typer.Context) -> CommerceService:
    return service(ctx, SERVICE, CommerceService)


def _up(ctx: typer.Context, name: str) -> Remote | None:
    """The running processes when ``commerce up`` runs process `name` on this host (the command goes there)."""
    remote = Remote(session(ctx).settings())
    return remote if remote.up(name) else None


def _settled(svc: CommerceService, data: dict[str, Any]) -> dict[str, Any]:
    svc.settle()
    return data


@product_app.command("add")
def product_add(
    ctx: typer.Context,
    sku: SkuArg,
    name: Annotated[str, typer.Argument(help="The product's name (1-200 characters).")],
    price: Annotated[str, typer.Argument(help="Its price, e.g. 59.90 (up to 2 decimals).")],
    description: Annotated[str, typer.Option("--description", help="What it is (searched too).")] = "",
    as_json: JsonOption = False,
) -> None:
    """Add a product to the catalogue (again with the same SKU: change it); searchable at once."""
    remote = _up(ctx, CATALOGUE)
    if remote is not None:
        data = remote.catalogue.add(sku, name, price, description=description).to_dict()
    else:
        svc = _svc(ctx)
        data = _settled(svc, svc.catalogue.add(sku, name, price, description=description).to_dict())
    emit(data, as_json=as_json, text=lambda d: f"{d['sku']}: {d['name']} at {d['price']}")


@product_app.command("search")
def product_search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Words every match holds in its name or description.")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="How many products at most.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Search the catalogue in full text (SQLite FTS5 / PostgreSQL), best match first."""
    remote = _up(ctx, CATALOGUE)
    catalogue = remote.catalogue if remote is not None else _svc(ctx).catalogue
    found = [p.to_dict() for p in catalogue.search(query, limit=limit)]
    emit(found, as_json=as_json, text=lambda rows: "\n".join(
        f"{p['sku']}: {p['name']} at {p['price']}" for p in rows
    ) or f"no product matches {query!r}")  # fmt: skip


def _stock_text(d: dict[str, Any]) -> str:
    return f"{d['sku']}: {d['on_hand']} on hand, {d['reserved']} reserved, {d['available']} available"


@stock_app.command("set")
def stock_set(
    ctx: typer.Context,
    sku: SkuArg,
    on_hand: Annotated[str, typer.Argument(help="Units on hand (never below what reservations hold).")],
    as_json: JsonOption = False,
) -> None:
    """Set a SKU's stock on hand."""
    remote = _up(ctx, INVENTORY)
    if remote is not None:
        emit(remote.inventory.set_stock(sku, on_hand).to_dict(), as_json=as_json, text=_stock_text)
        return
    svc = _svc(ctx)
    emit(_settled(svc, svc.inventory.set_stock(sku, on_hand).to_dict()), as_json=as_json, text=_stock_text)


@stock_app.command("show")
def stock_show(ctx: typer.Context, sku: SkuArg, as_json: JsonOption = False) -> None:
    """Show a SKU's stock from the record of truth: on hand, reserved (held for orders), available."""
    remote = _up(ctx, INVENTORY)
    stock = remote.inventory.stock(sku) if remote is not None else _svc(ctx).inventory.stock(sku)
    emit(stock.to_dict(), as_json=as_json, text=_stock_text)


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    user_id: Annotated[str, typer.Argument(help="The customer's id, e.g. mei.")],
    name: Annotated[str, typer.Argument(help="Their name.")],
    as_json: JsonOption = False,
) -> None:
    """Register a customer."""
    remote = _up(ctx, USERS)
    if remote is not None:
        emit(
            remote.users.register(user_id, name).to_dict(),
            as_json=as_json,
            text=lambda d: f"{d['user_id']}: {d['name']}",
        )
        return
    svc = _svc(ctx)
    emit(_settled(svc, svc.users.register(user_id, name).to_dict()), as_json=as_json,
         text=lambda d: f"{d['user_id']}: {d['name']}")  # fmt: skip


@order_app.command("place")
def order_place(
    ctx: typer.Context,
    customer: Annotated[str, typer.Argument(help="The registered customer's id.")],
    lines: Annotated[list[str], typer.Argument(help="Lines as SKU:QTY, e.g. sku-1:2 sku-2:1.")],
    order_id: Annotated[
        str | None, typer.Option("--order-id", help="The order's id (its idempotency key); default: a new one.")
    ] = None,
    saga: Annotated[
        str,
        typer.Option(
            "--saga",
            help="How it is carried on: choreographed (the services react to its events), orchestrated (the order "
            "saga drives it), temporal (the same saga on Temporal; needs DATASTRATA_TEMPORAL) or manual (nobody).",
        ),
    ] = CHOREOGRAPHED,
    as_json: JsonOption = False,
) -> None:
    """Place an order: priced by the catalogue, saved PENDING, OrderCreated recorded; the saga carries it on."""
    remote = _up(ctx, ORDERS)
    if remote is not None:  # the running processes carry it on: wait for its end
        data = remote.settled(remote.orders.place(customer, lines, order_id=order_id, saga=saga)).to_dict()
    else:
        svc = _svc(ctx)
        placed = svc.place(customer, lines, order_id=order_id, saga=saga)
        svc.settle()  # the services react, or the order saga runs, until the order is confirmed or cancelled
        if placed.saga == TEMPORAL:
            svc.temporal().execute(placed.order_id)  # its workflow, started from OrderCreated: wait for its end
            svc.settle()  # the notification of its end
        data = svc.orders.get(placed.order_id).to_dict()
    emit(data, as_json=as_json, text=lambda d: f"order {d['order_id']} for {d['customer']}: {d['status']}, "
         f"total {d['total']}" + (f" ({d['reason']})" if d["reason"] else ""))  # fmt: skip


@order_app.command("show")
def order_show(ctx: typer.Context, order_id: OrderArg, as_json: JsonOption = False) -> None:
    """Show an order, and what each service holds about it (asked through the services, not their tables)."""
    remote = _up(ctx, ORDERS)
    if remote is not None:
        emit(remote.order_view(order_id), as_json=as_json, text=_order_text)
        return
    svc = _svc(ctx)
    order = svc.orders.get(order_id)
    payment = svc.payment.payment(order.order_id)
    data = {
        **order.to_dict(),
        "reservation": svc.inventory.reservation(order.order_id).to_dict(),
        "payment": None if payment is None else payment.to_dict(),
        "notifications": [n.to_dict() for n in svc.notification.sent(order.order_id)],
    }
    emit(data, as_json=as_json, text=_order_text)


def _order_text(d: dict[str, Any]) -> str:
    lines = ", ".join(f"{x['quantity']} x {x['sku']} at {x['price']}" for x in d["lines"])
    paid = d["payment"]["state"] if d["payment"] else "not charged"
    text = (
        f"order {d['order_id']} for {d['customer']}: {d['status']}, total {d['total']} ({lines}); "
        f"stock {d['reservation']['state']}; payment {paid}"
    )
    if d.get("reason"):
        text += f"; reason: {d['reason']}"
    return "\n".join([text, *(f"  sent: {n['message']}" for n in d["notifications"])])


@app.command()
def services(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show each service's own store (schema and role on PostgreSQL) and its relay's place."""
    emit(_svc(ctx).status(), as_json=as_json, text=lambda d: "\n".join(
        f"{s['service']}: {s['store']}" + (f" schema {s['schema']} as role {s['role']}" if s["schema"] else "")
        for s in d["services"]
    ) + f"\n{d['pending']} events to relay")  # fmt: skip


@saga_app.command("show")
def saga_show(ctx: typer.Context, order_id: OrderArg, as_json: JsonOption = False) -> None:
    """Show an order's saga: its state, why it compensated, every step and compensation (saga log or Temporal)."""
    remote = _up(ctx, SAGAS)
    if remote is not None:
        typer.echo(present(remote.saga(order_id), as_json=as_json))
        return
    typer.echo(_svc(ctx).saga_timeline(order_id, as_json=as_json))


@app.command()
def up(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Option("--service", help=f"all (each a child process), or one of {', '.join(PROCESSES)}."),
    ] = "all",
    host: Annotated[str, typer.Option("--host", help="The address the process listens on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="The port (0: any free one; all: the first's, then +1 each).")
    ] = 0,
) -> None:
    """Run each service (and the order saga's orchestrator) as its own process with its own store until SIGTERM."""
    from datastrata.systems.commerce.up import ALL, check_up_service, run_all, serve_service

    chosen = check_up_service(name)
    settings = session(ctx).settings()
    if chosen == ALL:
        raise typer.Exit(run_all(settings, host=host, port=port, say=typer.echo))
    serve_service(settings, chosen, host=host, port=port, say=typer.echo)
