"""HTTP routes of the food system: commands answer with a consistency token, reads take it as ``?after=``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from datastrata.api.bodies import (
    CuisinesOut,
    GraphRebuildOut,
    OrderOut,
    ProjectionLagOut,
    RestaurantOut,
    SeedOut,
)
from datastrata.api.contract import problems
from datastrata.api.idempotency import Keyed, KeyHeader
from datastrata.api.pagination import CursorQuery, LimitQuery, Page, needed, paginate
from datastrata.api.waiting import AfterQuery, LogQuery, TimeoutQuery, await_applied
from datastrata.core.clock import optional_utc
from datastrata.core.validation import MAX_INT
from datastrata.systems.food.domain import (
    ID_PATTERN,
    MAX_LIMIT,
    MAX_NAME,
    MAX_NEAR_KM,
    MAX_ORDER_ITEMS,
    MAX_SEED_ORDERS,
    MAX_SEED_RESTAURANTS,
    MAX_SEED_USERS,
    MAX_TAGS,
    PRICE_PATTERN,
)
from datastrata.systems.food.service import SERVICE, FoodService

router = APIRouter(prefix="/food", tags=["food"])

IdPath = Annotated[str, Path(pattern=ID_PATTERN, description="An id: 1-100 letters, digits, '_', '.', ':' or '-'")]
Id = Annotated[str, Field(pattern=ID_PATTERN, description="An id: 1-100 letters, digits, '_', '.', ':' or '-'")]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
Tag = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
Lat = Annotated[float, Field(strict=True, ge=-90, le=90, description="Latitude in degrees")]
Lon = Annotated[float, Field(strict=True, ge=-180, le=180, description="Longitude in degrees")]


def _svc(request: Request) -> FoodService:
    return cast(FoodService, request.app.state.runtime.service(SERVICE, FoodService))


class WrittenOut(BaseModel):
    """What a write stored: rows written, rows already as given, and the consistency token to read after."""

    written: int
    unchanged: int
    token: int
    log: str = Field(description="Identity of the log the token is a position of")
    duplicate: bool = Field(description="True when this is the stored result of an earlier request with the key")


class UserIn(Keyed):
    """Where a user orders to."""

    lat: Lat
    lon: Lon


class RestaurantIn(Keyed):
    """A restaurant's details."""

    name: Name
    address: str = Field(default="", max_length=MAX_NAME)
    lat: Lat
    lon: Lon
    cuisines: list[Tag] = Field(
        default_factory=list, max_length=MAX_TAGS, description="Cuisines it serves; replaces the old set"
    )
    sponsored: bool = Field(default=False, strict=True, description="Pays for promotion: recommended first")


class SponsoredIn(Keyed):
    """Whether a restaurant pays for promotion."""

    sponsored: bool = Field(strict=True)


class MenuItemIn(Keyed):
    """A dish on a restaurant's menu."""

    name: Name
    price: str = Field(
        pattern=PRICE_PATTERN, max_length=16, description="Price as text, at most 12 digits and 2 decimals: 980.00"
    )
    ingredients: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)


class OrderIn(Keyed):
    """An order."""

    user_id: Id
    restaurant_id: Id
    items: list[Id] = Field(min_length=1, max_length=MAX_ORDER_ITEMS, description="Menu item ids (at least one)")
    rating: int | None = Field(default=None, strict=True, ge=1, le=5, description="Rating 1-5")
    at: datetime | None = Field(default=None, description="When it was ordered; default now")
    order_id: Id | None = Field(default=None, description="Order id, so a retried request is recorded once")


class SeedIn(BaseModel):
    """The size of a synthetic dataset."""

    users: int = Field(strict=True, default=2000, ge=1, le=MAX_SEED_USERS)
    restaurants: int = Field(strict=True, default=200, ge=1, le=MAX_SEED_RESTAURANTS)
    orders: int = Field(strict=True, default=20000, ge=0, le=MAX_SEED_ORDERS)
    seed: int = Field(strict=True, default=42, ge=0, le=MAX_INT)


@router.put("/users/{user_id}", responses=problems(404, 409), response_model=WrittenOut)
def put_user(user_id: IdPath, body: UserIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Register a user at a position (or move them)."""
    return _svc(request).add_user(user_id, lat=body.lat, lon=body.lon, event_id=key.with_body(body.event_id)).to_dict()


@router.put("/restaurants/{restaurant_id}", responses=problems(404, 409), response_model=WrittenOut)
def put_restaurant(restaurant_id: IdPath, body: RestaurantIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """List a restaurant (or change its details)."""
    return (
        _svc(request)
        .add_restaurant(
            restaurant_id,
            name=body.name,
            address=body.address,
            lat=body.lat,
            lon=body.lon,
            cuisines=body.cuisines,
            sponsored=body.sponsored,
            event_id=key.with_body(body.event_id),
        )
        .to_dict()
    )


@router.get("/restaurants/{restaurant_id}", responses=problems(404), response_model=RestaurantOut)
def get_restaurant(restaurant_id: IdPath, request: Request) -> dict[str, Any]:
    """Return a restaurant's details and menu."""
    return _svc(request).restaurant(restaurant_id)


@router.put("/restaurants/{restaurant_id}/sponsored", responses=problems(404, 409), response_model=WrittenOut)
def put_sponsored(restaurant_id: IdPath, body: SponsoredIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Start or stop a restaurant's paid promotion."""
    return _svc(request).set_sponsored(restaurant_id, body.sponsored, event_id=key.with_body(body.event_id)).to_dict()


@router.put("/restaurants/{restaurant_id}/menu/{item_id}", responses=problems(404, 409), response_model=WrittenOut)
def put_menu_item(
    restaurant_id: IdPath, item_id: IdPath, body: MenuItemIn, request: Request, key: KeyHeader
) -> dict[str, Any]:
    """Add a dish to a restaurant's menu (or change it)."""
    svc = _svc(request)
    return svc.add_menu_item(
        restaurant_id,
        item_id,
        name=body.name,
        price=body.price,
        ingredients=body.ingredients,
        event_id=key.with_body(body.event_id),
    ).to_dict()


@router.post("/orders", responses=problems(404, 409), response_model=OrderOut)
def post_order(body: OrderIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Place an order; the answer's `token` makes a later read wait for the graph to include it."""
    placed = _svc(request).place_order(
        body.user_id,
        body.restaurant_id,
        items=body.items,
        rating=body.rating,
        at=optional_utc(body.at, field="at"),
        order_id=body.order_id,
        event_id=key.with_body(body.event_id),
    )
    return placed.to_dict()


@router.get("/orders/{order_id}", responses=problems(404), response_model=OrderOut)
def get_order(order_id: IdPath, request: Request) -> dict[str, Any]:
    """Return a recorded order."""
    return _svc(request).order(order_id).to_dict()


@router.put("/users/{user_id}/favorites/{restaurant_id}", responses=problems(404, 409), response_model=WrittenOut)
def put_favorite(user_id: IdPath, restaurant_id: IdPath, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Record that a user favourited a restaurant."""
    return _svc(request).favorite(user_id, restaurant_id, event_id=key.with_body(None)).to_dict()


@router.get("/users/{user_id}/recommendations", responses=problems(404, 409, 504))
async def get_recommendations(
    user_id: IdPath,
    request: Request,
    limit: LimitQuery = 10,
    cursor: CursorQuery = None,
    weighting: Annotated[
        Literal["pairs", "orders", "ratings", "recency"], Query(description="pairs, orders, ratings or recency")
    ] = "pairs",
    since: Annotated[datetime | None, Query(description="Cut-off of the recency weighting")] = None,
    after: AfterQuery = None,
    log: LogQuery = None,
    timeout: TimeoutQuery = 5.0,
) -> Page[dict[str, Any]]:
    """Restaurants people who ordered where you ordered also ordered at: sponsored first, then by score.

    Answers from the graph as it stands; with `after` it first waits (no thread held) until the worker applied it.
    """
    svc = _svc(request)
    wanted = min(needed(cursor, "recommendations", limit), MAX_LIMIT)
    await await_applied(await run_in_threadpool(svc.follower), after, timeout, log=log)
    found = await run_in_threadpool(
        lambda: svc.recommend(
            user_id, limit=wanted, weighting=weighting, since=optional_utc(since, field="since"), after=after
        )
    )
    return paginate([s.to_dict() for s in found], kind="recommendations", limit=limit, cursor=cursor, offset=0)


@router.get("/users/{user_id}/cuisines", responses=problems(404, 409, 504), response_model=CuisinesOut)
async def get_cuisines(
    user_id: IdPath,
    request: Request,
    near_km: Annotated[float, Query(gt=0, le=MAX_NEAR_KM, description="Radius for nearby restaurants, in km")] = 5.0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most this many nearby restaurants")] = 10,
    after: AfterQuery = None,
    log: LogQuery = None,
    timeout: TimeoutQuery = 5.0,
) -> dict[str, Any]:
    """Your favourite cuisines, restaurants near you serving them, and related cuisines."""
    svc = _svc(request)
    await await_applied(await run_in_threadpool(svc.follower), after, timeout, log=log)
    return await run_in_threadpool(lambda: svc.cuisines(user_id, near_km=near_km, limit=limit, after=after))


@router.post("/seed", responses=problems(409), response_model=SeedOut)
def post_seed(body: SeedIn, request: Request) -> dict[str, Any]:
    """Load a synthetic dataset through the command side (the worker, or `?after=token` reads, feed the graph)."""
    return _svc(request).seed(users=body.users, restaurants=body.restaurants, orders=body.orders, seed=body.seed)


@router.post("/rebuild", responses=problems(409), response_model=GraphRebuildOut)
def post_rebuild(request: Request) -> dict[str, Any]:
    """Rebuild the recommendation graph from the event log beside the live one (it answers meanwhile)."""
    svc = _svc(request)
    applied = svc.rebuild()
    follower = svc.follower()
    return {"projection": follower.name, "applied": applied, "position": follower.position()}


@router.get("/lag", response_model=ProjectionLagOut)
def get_lag(request: Request) -> dict[str, Any]:
    """How far the recommendation graph is behind the event log."""
    found = _svc(request).lag()
    return {"name": found.name, "position": found.position, "head": found.head, "behind": found.behind}
