"""HTTP routes of the food system: commands answer with a consistency token, reads take it as ``?after=``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from datastrata.core.clock import optional_utc
from datastrata.systems.food.service import SERVICE, FoodService

router = APIRouter(prefix="/food", tags=["food"])

AfterQuery = Annotated[
    int | None, Query(description="Consistency token from a write: wait until the graph has applied it")
]
CatchUpQuery = Annotated[bool, Query(description="Apply the events waiting for the graph first")]


def _svc(request: Request) -> FoodService:
    return cast(FoodService, request.app.state.runtime.service(SERVICE, FoodService))


class UserIn(BaseModel):
    """Where a user orders to."""

    lat: float = Field(description="Latitude in degrees")
    lon: float = Field(description="Longitude in degrees")


class RestaurantIn(BaseModel):
    """A restaurant's details."""

    name: str
    address: str = ""
    lat: float
    lon: float
    cuisines: list[str] = Field(default_factory=list, description="Cuisines it serves; replaces the old set")
    sponsored: bool = Field(default=False, description="Pays for promotion: recommended first")


class SponsoredIn(BaseModel):
    """Whether a restaurant pays for promotion."""

    sponsored: bool


class MenuItemIn(BaseModel):
    """A dish on a restaurant's menu."""

    name: str
    price: Decimal = Field(description="Price, e.g. 980.00")
    ingredients: list[str] = Field(default_factory=list)


class OrderIn(BaseModel):
    """An order."""

    user_id: str
    restaurant_id: str
    items: list[str] = Field(default_factory=list, description="Menu item ids")
    rating: int | None = Field(default=None, description="Rating 1-5")
    at: datetime | None = Field(default=None, description="When it was ordered; default now")
    order_id: str | None = Field(default=None, description="Order id, so a retried request is recorded once")


class SeedIn(BaseModel):
    """The size of a synthetic dataset."""

    users: int = 2000
    restaurants: int = 200
    orders: int = 20000
    seed: int = 42


@router.put("/users/{user_id}")
def put_user(user_id: str, body: UserIn, request: Request) -> dict[str, Any]:
    """Register a user at a position (or move them)."""
    return _svc(request).add_user(user_id, lat=body.lat, lon=body.lon).to_dict()


@router.put("/restaurants/{restaurant_id}")
def put_restaurant(restaurant_id: str, body: RestaurantIn, request: Request) -> dict[str, Any]:
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
        )
        .to_dict()
    )


@router.get("/restaurants/{restaurant_id}")
def get_restaurant(restaurant_id: str, request: Request) -> dict[str, Any]:
    """Return a restaurant's details and menu."""
    return _svc(request).restaurant(restaurant_id)


@router.put("/restaurants/{restaurant_id}/sponsored")
def put_sponsored(restaurant_id: str, body: SponsoredIn, request: Request) -> dict[str, Any]:
    """Start or stop a restaurant's paid promotion."""
    return _svc(request).set_sponsored(restaurant_id, body.sponsored).to_dict()


@router.put("/restaurants/{restaurant_id}/menu/{item_id}")
def put_menu_item(restaurant_id: str, item_id: str, body: MenuItemIn, request: Request) -> dict[str, Any]:
    """Add a dish to a restaurant's menu (or change it)."""
    svc = _svc(request)
    return svc.add_menu_item(
        restaurant_id, item_id, name=body.name, price=body.price, ingredients=body.ingredients
    ).to_dict()


@router.post("/orders")
def post_order(body: OrderIn, request: Request) -> dict[str, Any]:
    """Place an order; the answer's `token` makes a later read wait for the graph to include it."""
    placed = _svc(request).place_order(
        body.user_id,
        body.restaurant_id,
        items=body.items,
        rating=body.rating,
        at=optional_utc(body.at, field="at"),
        order_id=body.order_id,
    )
    return placed.to_dict()


@router.get("/orders/{order_id}")
def get_order(order_id: str, request: Request) -> dict[str, Any]:
    """Return a recorded order."""
    return _svc(request).order(order_id).to_dict()


@router.put("/users/{user_id}/favorites/{restaurant_id}")
def put_favorite(user_id: str, restaurant_id: str, request: Request) -> dict[str, Any]:
    """Record that a user favourited a restaurant."""
    return _svc(request).favorite(user_id, restaurant_id).to_dict()


@router.get("/users/{user_id}/recommendations")
def get_recommendations(
    user_id: str,
    request: Request,
    limit: Annotated[int, Query(description="At most this many restaurants")] = 10,
    weighting: Annotated[str, Query(description="pairs, orders, ratings or recency")] = "pairs",
    since: Annotated[datetime | None, Query(description="Cut-off of the recency weighting")] = None,
    after: AfterQuery = None,
    catch_up: CatchUpQuery = False,
) -> list[dict[str, Any]]:
    """Restaurants people who ordered where you ordered also ordered at: sponsored first, then by score."""
    found = _svc(request).recommend(
        user_id,
        limit=limit,
        weighting=weighting,
        since=optional_utc(since, field="since"),
        after=after,
        catch_up=catch_up,
    )
    return [s.to_dict() for s in found]


@router.get("/users/{user_id}/cuisines")
def get_cuisines(
    user_id: str,
    request: Request,
    near_km: Annotated[float, Query(description="Radius for nearby restaurants, in km")] = 5.0,
    limit: Annotated[int, Query(description="At most this many nearby restaurants")] = 10,
    after: AfterQuery = None,
    catch_up: CatchUpQuery = False,
) -> dict[str, Any]:
    """Your favourite cuisines, restaurants near you serving them, and related cuisines."""
    return _svc(request).cuisines(user_id, near_km=near_km, limit=limit, after=after, catch_up=catch_up)


@router.post("/seed")
def post_seed(body: SeedIn, request: Request) -> dict[str, Any]:
    """Load a synthetic dataset through the command side (the worker, or `?after=token` reads, feed the graph)."""
    return _svc(request).seed(users=body.users, restaurants=body.restaurants, orders=body.orders, seed=body.seed)


@router.post("/rebuild")
def post_rebuild(request: Request) -> dict[str, Any]:
    """Empty the recommendation graph and replay it from the event log."""
    svc = _svc(request)
    applied = svc.rebuild()
    return {"projection": svc.runner.name, "applied": applied, "position": svc.runner.position()}


@router.get("/lag")
def get_lag(request: Request) -> dict[str, Any]:
    """How far the recommendation graph is behind the event log."""
    found = _svc(request).lag()
    return {"name": found.name, "position": found.position, "head": found.head, "behind": found.behind}
