"""Food delivery, the pure part: users, restaurants, menu items and orders, their rules and their events."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from datastrata.core.clock import ensure_utc
from datastrata.core.errors import ValidationError
from datastrata.core.validation import bounded_int, bounded_list, decimal_pattern, decimal_value
from datastrata.graph.geo import check_position

USER_REGISTERED = "UserRegistered"
USER_UPDATED = "UserUpdated"
RESTAURANT_LISTED = "RestaurantListed"
RESTAURANT_UPDATED = "RestaurantUpdated"
MENU_ITEM_ADDED = "MenuItemAdded"
SPONSORSHIP_CHANGED = "SponsorshipChanged"
RESTAURANT_FAVORITED = "RestaurantFavorited"
ORDER_PLACED = "OrderPlaced"

#: Every event the food graph is rebuilt from.
GRAPH_EVENTS = frozenset(
    {
        USER_REGISTERED,
        USER_UPDATED,
        RESTAURANT_LISTED,
        RESTAURANT_UPDATED,
        MENU_ITEM_ADDED,
        SPONSORSHIP_CHANGED,
        RESTAURANT_FAVORITED,
        ORDER_PLACED,
    }
)

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: The id rule as a pattern, for the HTTP schema.
ID_PATTERN = _ID.pattern
#: A price: the store keeps cents exactly; a price with more decimals is refused, never rounded.
PRICE_DIGITS = 12
PRICE_DECIMALS = 2
PRICE_PATTERN = decimal_pattern(PRICE_DIGITS, PRICE_DECIMALS)
#: Most items on one order (an order needs at least one).
MAX_ORDER_ITEMS = 100
#: Longest name, address, cuisine or ingredient, and most cuisines or ingredients per record.
MAX_NAME = 200
MAX_TAGS = 50
#: Bulk bounds of `seed`: one request may not ask for more than these.
MAX_SEED_USERS = 100_000
MAX_SEED_RESTAURANTS = 10_000
MAX_SEED_ORDERS = 1_000_000
#: Query bounds: recommendations and nearby restaurants per answer, and the radius.
MAX_LIMIT = 1000
MAX_NEAR_KM = 20_000.0


def check_order_items(items: Sequence[str]) -> list[str]:
    """Refuse an order without items or with more than MAX_ORDER_ITEMS."""
    if not items:
        raise ValidationError("an order needs at least one menu item; pass --item ID (items: [...])", field="items")
    return bounded_list(list(items), field="items", max_items=MAX_ORDER_ITEMS, min_items=1)


def check_seed(users: int, restaurants: int, orders: int, seed: int) -> None:
    """Refuse a synthetic dataset beyond the bulk bounds (one request must not exhaust the server)."""
    bounded_int(users, field="users", minimum=1, maximum=MAX_SEED_USERS)
    bounded_int(restaurants, field="restaurants", minimum=1, maximum=MAX_SEED_RESTAURANTS)
    bounded_int(orders, field="orders", minimum=0, maximum=MAX_SEED_ORDERS)
    bounded_int(seed, field="seed", minimum=0)


def check_id(value: object, *, field: str) -> str:
    """Return `value` if it is a usable id (1-100 letters, digits, ``_.:-``), else raise ValidationError."""
    if not isinstance(value, str) or not _ID.match(value):
        raise ValidationError(
            f"{field} {value!r} is not a valid id; use 1-100 letters, digits, '_', '.', ':' or '-'", field=field
        )
    return value


def check_tag(value: str, *, field: str) -> str:
    """Refuse an empty cuisine or ingredient name, or one holding control characters (graph keys use one)."""
    if not value.strip():
        raise ValidationError(f"a {field} name cannot be empty", field=field)
    if _CONTROL.search(value):
        raise ValidationError(f"{field} {value!r} holds a control character; use printable text", field=field)
    return value


def check_rating(value: object) -> int | None:
    """Return a 1-5 rating or None; refuse anything else."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise ValidationError(f"rating {value!r} must be a whole number from 1 to 5", field="rating")
    return value


#: The bounded context of the food system: its streams are ``food-<kind>-<id>`` (the keys below).
CONTEXT = "food"


def user_key(user_id: str) -> str:
    """The aggregate key of a user's facts (registration, moves, favourites): stream ``food-user-<id>``."""
    return f"user-{user_id}"


def restaurant_key(restaurant_id: str) -> str:
    """The aggregate key of a restaurant's facts (listing, menu, sponsorship): stream ``food-restaurant-<id>``."""
    return f"restaurant-{restaurant_id}"


def order_key(order_id: str) -> str:
    """The aggregate key of one order (exactly one OrderPlaced): stream ``food-order-<id>``."""
    return f"order-{order_id}"


@dataclass(frozen=True, slots=True)
class UserProfile:
    """A customer and the position they usually order to."""

    id: str
    lat: float
    lon: float

    def __post_init__(self) -> None:
        check_id(self.id, field="user_id")
        check_position(self.lat, self.lon)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape (also the event payload)."""
        return {"user_id": self.id, "lat": self.lat, "lon": self.lon}


@dataclass(frozen=True, slots=True)
class RestaurantProfile:
    """A restaurant: name, address, position, cuisines and whether it pays for promotion."""

    id: str
    name: str
    address: str
    lat: float
    lon: float
    cuisines: tuple[str, ...] = ()
    sponsored: bool = False

    def __post_init__(self) -> None:
        check_id(self.id, field="restaurant_id")
        if not self.name.strip():
            raise ValidationError(f"restaurant {self.id!r} needs a name; pass --name", field="name")
        check_position(self.lat, self.lon)
        for cuisine in self.cuisines:
            check_tag(cuisine, field="cuisine")

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape (also the event payload)."""
        return {
            "restaurant_id": self.id,
            "name": self.name,
            "address": self.address,
            "lat": self.lat,
            "lon": self.lon,
            "cuisines": list(self.cuisines),
            "sponsored": self.sponsored,
        }


@dataclass(frozen=True, slots=True)
class MenuItemSpec:
    """A dish on a restaurant's menu, its price and ingredients."""

    id: str
    restaurant_id: str
    name: str
    price: Decimal
    ingredients: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_id(self.id, field="item_id")
        check_id(self.restaurant_id, field="restaurant_id")
        if not self.name.strip():
            raise ValidationError(f"menu item {self.id!r} needs a name", field="name")
        for ingredient in self.ingredients:
            check_tag(ingredient, field="ingredient")
        if not isinstance(self.price, Decimal) or not self.price.is_finite() or self.price < 0:
            raise ValidationError(f"price {self.price!r} must be a decimal amount >= 0", field="price")

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape (also the event payload; the price as text)."""
        return {
            "item_id": self.id,
            "restaurant_id": self.restaurant_id,
            "name": self.name,
            "price": str(self.price),
            "ingredients": list(self.ingredients),
        }


def parse_price(value: object) -> Decimal:
    """Parse a price given as text or number: at most 12 digits and 2 decimals, refused beyond (never rounded)."""
    price = decimal_value(
        value, field="price", max_digits=PRICE_DIGITS, max_decimals=PRICE_DECIMALS, minimum=Decimal(0)
    )
    return price.quantize(Decimal("0.01"))  # exact: at most two decimals passed the check, so nothing is rounded


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One menu item on an order, at the price it had when ordered."""

    item_id: str
    name: str
    price: Decimal

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape."""
        return {"item_id": self.item_id, "name": self.name, "price": str(self.price)}


@dataclass(frozen=True, slots=True)
class Order:
    """An order: who, where, what, when, and an optional 1-5 rating."""

    id: str
    user_id: str
    restaurant_id: str
    occurred_at: datetime
    rating: int | None = None
    lines: tuple[OrderLine, ...] = field(default=())

    def __post_init__(self) -> None:
        check_id(self.id, field="order_id")
        check_id(self.user_id, field="user_id")
        check_id(self.restaurant_id, field="restaurant_id")
        object.__setattr__(self, "occurred_at", ensure_utc(self.occurred_at, field="at"))
        check_rating(self.rating)

    @property
    def total(self) -> Decimal:
        """The sum of the line prices."""
        return sum((line.price for line in self.lines), Decimal("0.00"))

    def same_as(self, other: Order) -> bool:
        """Whether `other` records the same order (a retried command)."""
        return (self.user_id, self.restaurant_id, self.occurred_at, self.rating, [x.item_id for x in self.lines]) == (
            other.user_id,
            other.restaurant_id,
            other.occurred_at,
            other.rating,
            [x.item_id for x in other.lines],
        )

    def payload(self) -> dict[str, Any]:
        """The OrderPlaced payload: what the graph needs (items by id only)."""
        return {
            "order_id": self.id,
            "user_id": self.user_id,
            "restaurant_id": self.restaurant_id,
            "rating": self.rating,
            "items": [line.item_id for line in self.lines],
        }

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape."""
        return {
            "order_id": self.id,
            "user_id": self.user_id,
            "restaurant_id": self.restaurant_id,
            "at": self.occurred_at.isoformat(),
            "rating": self.rating,
            "items": [line.to_dict() for line in self.lines],
            "total": str(self.total),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Order:
        """Return an order from its :meth:`to_dict` shape (a stored command result)."""
        lines = tuple(OrderLine(x["item_id"], x["name"], Decimal(x["price"])) for x in data["items"])
        at = datetime.fromisoformat(data["at"])
        return cls(data["order_id"], data["user_id"], data["restaurant_id"], at, data["rating"], lines)


def order_lines(
    item_ids: Sequence[str], menu: Mapping[str, tuple[str, Decimal]], restaurant_id: str
) -> tuple[OrderLine, ...]:
    """Price each ordered item from the restaurant's `menu` (id → (name, price)); refuse items it does not offer."""
    lines = []
    for item_id in item_ids:
        found = menu.get(item_id)
        if found is None:
            raise ValidationError(
                f"restaurant {restaurant_id!r} offers no menu item {item_id!r}; add it with `food menu add` "
                f"or order one of {sorted(menu)[:10]}",
                field="items",
            )
        lines.append(OrderLine(item_id, found[0], found[1]))
    return tuple(lines)
