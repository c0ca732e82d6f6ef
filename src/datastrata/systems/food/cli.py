"""``datastrata food …``: users, restaurants, menus, orders, favourites, recommendations, seed, rebuild, lag.

Writes go to the order store with their events in one transaction. Reads come from the graph: without
``--after`` a read first applies the events waiting for the graph (so sequential commands see their own
writes with no worker running); with ``--after TOKEN`` it waits until the graph has applied that token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from datastrata.shell import (
    BusOption,
    CacheOption,
    EventIdOption,
    GraphOption,
    JsonOption,
    LogOption,
    StoreOption,
    ascii_int,
    emit,
    remember_stores,
    service,
    time_option,
)
from datastrata.systems.food.service import RECENCY_WINDOW, SERVICE, FoodService

app = typer.Typer(
    help="Food delivery: orders in SQL, recommendations from a graph fed by their events.", no_args_is_help=True
)
user_app = typer.Typer(help="Register users.", no_args_is_help=True)
restaurant_app = typer.Typer(help="List restaurants and change their promotion.", no_args_is_help=True)
menu_app = typer.Typer(help="Add dishes to menus.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(restaurant_app, name="restaurant")
app.add_typer(menu_app, name="menu")

UserArg = Annotated[str, typer.Argument(help="User id, e.g. A.")]
RestaurantArg = Annotated[str, typer.Argument(help="Restaurant id, e.g. ichiran.")]
LatOption = Annotated[float, typer.Option("--lat", help="Latitude in degrees (WGS84).")]
LonOption = Annotated[float, typer.Option("--lon", help="Longitude in degrees (WGS84).")]
AfterOption = Annotated[
    int | None,
    typer.Option(
        "--after", parser=ascii_int, help="Consistency token from a write: wait until the graph has applied it."
    ),
]
CatchUpOption = Annotated[
    bool,
    typer.Option("--catch-up/--no-catch-up", help="Apply the events waiting for the graph first (no worker running)."),
]


@app.callback()
def _options(
    ctx: typer.Context,
    store: StoreOption = None,
    bus: BusOption = None,
    cache: CacheOption = None,
    graph: GraphOption = None,
) -> None:
    """Food delivery: orders in SQL, recommendations from a graph fed by their events."""
    remember_stores(ctx, store, bus, cache, graph)


def _svc(ctx: typer.Context) -> FoodService:
    return service(ctx, SERVICE, FoodService)


def _written(what: str) -> Callable[[dict[str, Any]], str]:
    def text(data: dict[str, Any]) -> str:
        state = "recorded" if data["written"] else "already recorded; nothing new stored"
        return f"{what}: {state} (token {data['token']})"

    return text


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    user_id: UserArg,
    lat: LatOption,
    lon: LonOption,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a user at the position they order to (again with another position: move them)."""
    written = _svc(ctx).add_user(user_id, lat=lat, lon=lon, event_id=event_id)
    emit(written.to_dict(), as_json=as_json, text=_written(f"user {user_id}"))


@restaurant_app.command("add")
def restaurant_add(
    ctx: typer.Context,
    restaurant_id: RestaurantArg,
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    lat: LatOption,
    lon: LonOption,
    address: Annotated[str, typer.Option("--address", help="Street address.")] = "",
    cuisine: Annotated[
        list[str] | None, typer.Option("--cuisine", help="A cuisine it serves; repeat for each, e.g. --cuisine Ramen.")
    ] = None,
    sponsored: Annotated[bool, typer.Option("--sponsored", help="It pays for promotion: recommended first.")] = False,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a restaurant (again with other details: change them; the cuisines given replace the old ones)."""
    written = _svc(ctx).add_restaurant(
        restaurant_id,
        name=name,
        address=address,
        lat=lat,
        lon=lon,
        cuisines=cuisine or [],
        sponsored=sponsored,
        event_id=event_id,
    )
    emit(written.to_dict(), as_json=as_json, text=_written(f"restaurant {restaurant_id}"))


@restaurant_app.command("sponsor")
def restaurant_sponsor(
    ctx: typer.Context,
    restaurant_id: RestaurantArg,
    off: Annotated[bool, typer.Option("--off", help="Stop the promotion instead.")] = False,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start (or with --off stop) a restaurant's paid promotion: its recommendations come first."""
    written = _svc(ctx).set_sponsored(restaurant_id, not off, event_id=event_id)
    emit(written.to_dict(), as_json=as_json, text=_written(f"sponsorship of {restaurant_id}"))


@restaurant_app.command("show")
def restaurant_show(ctx: typer.Context, restaurant_id: RestaurantArg, as_json: JsonOption = False) -> None:
    """Show a restaurant's details and menu from the order store."""

    def text(data: dict[str, Any]) -> str:
        lines = [
            f"{data['restaurant_id']}  {data['name']}  {data['address']}  ({data['lat']}, {data['lon']})"
            + ("  [sponsored]" if data["sponsored"] else ""),
            f"  cuisines: {', '.join(data['cuisines']) or '-'}",
        ]
        lines += [f"  {i['item_id']}: {i['name']}  {i['price']}" for i in data["menu"]]
        return "\n".join(lines)

    emit(_svc(ctx).restaurant(restaurant_id), as_json=as_json, text=text)


@menu_app.command("add")
def menu_add(
    ctx: typer.Context,
    restaurant_id: RestaurantArg,
    item_id: Annotated[str, typer.Argument(help="Menu item id, e.g. ichiran-tonkotsu.")],
    name: Annotated[str, typer.Option("--name", help="Dish name.")],
    price: Annotated[str, typer.Option("--price", help="Price as a decimal, e.g. 980.00.")],
    ingredient: Annotated[
        list[str] | None, typer.Option("--ingredient", help="An ingredient; repeat for each.")
    ] = None,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a dish to a restaurant's menu (again with other details: change it)."""
    written = _svc(ctx).add_menu_item(
        restaurant_id, item_id, name=name, price=price, ingredients=ingredient or [], event_id=event_id
    )
    emit(written.to_dict(), as_json=as_json, text=_written(f"menu item {item_id}"))


@app.command()
def order(
    ctx: typer.Context,
    user_id: UserArg,
    restaurant_id: RestaurantArg,
    item: Annotated[list[str] | None, typer.Option("--item", help="A menu item id; repeat for each dish.")] = None,
    rating: Annotated[int | None, typer.Option("--rating", parser=ascii_int, help="Rating 1-5.")] = None,
    at: Annotated[str | None, typer.Option("--at", help="When it was ordered (ISO-8601); default now.")] = None,
    order_id: Annotated[
        str | None, typer.Option("--id", help="Order id, so a retried command is recorded once; default a new id.")
    ] = None,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Place an order: the order row and its OrderPlaced event commit together; prints the consistency token."""
    placed = _svc(ctx).place_order(
        user_id,
        restaurant_id,
        items=item or [],
        rating=rating,
        at=time_option(at, field="at"),
        order_id=order_id,
        event_id=event_id,
    )

    def text(data: dict[str, Any]) -> str:
        again = " (already recorded; nothing new stored)" if data["duplicate"] else ""
        return (
            f"order {data['order_id']}: {data['user_id']} at {data['restaurant_id']}, {len(data['items'])} item(s), "
            f"total {data['total']}, token {data['token']}{again}"
        )

    emit(placed.to_dict(), as_json=as_json, text=text)


@app.command()
def favorite(
    ctx: typer.Context,
    user_id: UserArg,
    restaurant_id: RestaurantArg,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record that a user favourited a restaurant (once)."""
    written = _svc(ctx).favorite(user_id, restaurant_id, event_id=event_id)
    emit(written.to_dict(), as_json=as_json, text=_written(f"{user_id} favourited {restaurant_id}"))


@app.command()
def recommend(
    ctx: typer.Context,
    user_id: UserArg,
    limit: Annotated[int, typer.Option("--limit", parser=ascii_int, help="At most this many restaurants.")] = 10,
    weighting: Annotated[
        str, typer.Option("--weighting", help="Score by pairs, orders, ratings or recency (last 30 days or --since).")
    ] = "pairs",
    since: Annotated[str | None, typer.Option("--since", help="Cut-off of the recency weighting (ISO-8601).")] = None,
    after: AfterOption = None,
    log: LogOption = None,
    catch_up: CatchUpOption = True,
    as_json: JsonOption = False,
) -> None:
    """Restaurants people who ordered where you ordered also ordered at: sponsored first, then by score."""
    found = _svc(ctx).recommend(
        user_id,
        limit=limit,
        weighting=weighting,
        since=time_option(since, field="since"),
        after=after,
        log=log,
        catch_up=catch_up and after is None,
    )

    def text(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return f"no recommendations for {user_id} yet: order somewhere others ordered too"
        return "\n".join(
            f"{'*' if r['sponsored'] else ' '} {r['restaurant_id']:<12} {r['name']:<28} score {r['score']:>5}  "
            f"because of {', '.join(r['reasons'])}  ({r['address']})"
            for r in rows
        )

    emit([s.to_dict() for s in found], as_json=as_json, text=text)
    if weighting == "recency" and found and all(s.score == 0 for s in found):
        window = f"since {since}" if since else f"in the last {RECENCY_WINDOW.days} days"
        typer.echo(
            f"note: no order by people like {user_id} falls in the recency window ({window}), so every score is 0; "
            "widen it with --since, e.g. --since 2020-01-01T00:00:00Z",
            err=True,
        )


@app.command()
def cuisines(
    ctx: typer.Context,
    user_id: UserArg,
    near_km: Annotated[float, typer.Option("--near-km", help="Radius for nearby restaurants, in km.")] = 5.0,
    limit: Annotated[int, typer.Option("--limit", parser=ascii_int, help="At most this many nearby restaurants.")] = 10,
    after: AfterOption = None,
    log: LogOption = None,
    catch_up: CatchUpOption = True,
    as_json: JsonOption = False,
) -> None:
    """What might you like: your favourite cuisines, restaurants near you serving them, related cuisines."""
    data = _svc(ctx).cuisines(
        user_id, near_km=near_km, limit=limit, after=after, log=log, catch_up=catch_up and after is None
    )

    def text(d: dict[str, Any]) -> str:
        lines = [
            "favourite cuisines: " + (", ".join(f"{f['cuisine']} ({f['orders']})" for f in d["favourites"]) or "-")
        ]
        lines += [
            f"{'*' if m['sponsored'] else ' '} {m['restaurant_id']:<12} {m['name']:<28} {m['distance_km']:>6.2f} km  "
            f"{', '.join(m['cuisines'])}"
            for m in d["nearby"]
        ]
        lines.append("related cuisines: " + (", ".join(f"{r['cuisine']} ({r['users']})" for r in d["related"]) or "-"))
        return "\n".join(lines)

    emit(data, as_json=as_json, text=text)


@app.command()
def seed(
    ctx: typer.Context,
    users: Annotated[int, typer.Option("--users", parser=ascii_int, help="How many users.")] = 2000,
    restaurants: Annotated[int, typer.Option("--restaurants", parser=ascii_int, help="How many restaurants.")] = 200,
    orders: Annotated[int, typer.Option("--orders", parser=ascii_int, help="How many orders.")] = 20000,
    seed_value: Annotated[
        int, typer.Option("--seed", parser=ascii_int, help="Random seed: the same seed gives the same data.")
    ] = 42,
    as_json: JsonOption = False,
) -> None:
    """Load synthetic data (popular restaurants, heavy and light users) through the command side, then the graph."""
    svc = _svc(ctx)
    result = svc.seed(users=users, restaurants=restaurants, orders=orders, seed=seed_value)
    with _progress("graph", svc.store.head(), quiet=as_json) as progress:
        result["graph_applied"] = svc.catch_up(progress)
    emit(
        result,
        as_json=as_json,
        text=lambda d: (
            f"seeded {d['users']} users, {d['restaurants']} restaurants, {d['menu_items']} menu items, "
            f"{d['orders']} new orders ({d['orders_already_recorded']} already recorded); "
            f"graph applied {d['graph_applied']} events (token {d['token']})"
        ),
    )


@app.command()
def rebuild(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Rebuild the recommendation graph from the event log beside the live one (it answers meanwhile)."""
    svc = _svc(ctx)
    with _progress("rebuilding food.graph", svc.store.head(), quiet=as_json) as progress:
        applied = svc.rebuild(progress)
    follower = svc.follower()
    data = {"projection": follower.name, "applied": applied, "position": follower.position()}
    emit(
        data,
        as_json=as_json,
        text=lambda d: f"{d['projection']}: applied {d['applied']} events, now at {d['position']}",
    )


@app.command()
def lag(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show how far the recommendation graph is behind the event log."""
    found = _svc(ctx).lag()
    data = {"name": found.name, "position": found.position, "head": found.head, "behind": found.behind}
    emit(data, as_json=as_json, text=lambda d: f"{d['name']}: position {d['position']}, behind {d['behind']} events")


@contextmanager
def _progress(label: str, total: int, *, quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """Yield a progress callback drawing a bar over log positions on stderr (none with --json)."""
    if quiet:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=max(total, 1))

        def progress(position: int, target: int) -> None:
            bar.update(task, completed=position, total=max(target, 1))

        yield progress
