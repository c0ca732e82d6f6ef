"""Synthetic food-delivery data with realistic skew: popular restaurants, heavy and light users, habits."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from datastrata.core.errors import ValidationError
from datastrata.systems.food.domain import MenuItemSpec, RestaurantProfile, UserProfile
from datastrata.systems.food.store import OrderRequest

CUISINES = (
    "Japanese", "Ramen", "Sushi", "Chinese", "Sichuan", "Korean", "Thai", "Indian",
    "Italian", "Pizza", "American", "Burgers", "Mexican", "Steak", "Vegan", "Dessert",
)  # fmt: skip
INGREDIENTS = ("beef", "pork", "chicken", "tofu", "rice", "noodles", "cheese", "chili", "egg", "fish", "tomato")
DISTRICTS = ("Shibuya", "Shinjuku", "Chiyoda", "Minato", "Meguro", "Taito", "Koto", "Setagaya")
WORDS = ("Golden", "Lucky", "Red", "Little", "Happy", "Blue", "Old", "Grand", "Corner", "Night")
CENTRE = (35.68, 139.76)
START = datetime(2025, 1, 1, tzinfo=UTC)
#: Share of a user's orders that go back to a restaurant they already ordered from.
HABIT = 0.6
#: Zipf exponent of restaurant popularity.
ZIPF = 0.9


@dataclass(frozen=True, slots=True)
class Dataset:
    """Users, restaurants, menus and orders, ready to be loaded through the command side."""

    users: list[UserProfile]
    restaurants: list[RestaurantProfile]
    menu: list[MenuItemSpec]
    orders: list[OrderRequest]


def generate(users: int, restaurants: int, orders: int, *, seed: int = 42) -> Dataset:
    """Return a seeded dataset: Zipf-like restaurant popularity, log-normal user activity, 60% repeat orders."""
    if users < 1 or restaurants < 1 or orders < 0:
        raise ValidationError("seed needs at least 1 user and 1 restaurant, and orders >= 0", field="users")
    rng = random.Random(seed)
    user_list = [UserProfile(f"u{i:05d}", *_near(rng)) for i in range(users)]
    rest_list = [_restaurant(rng, i) for i in range(restaurants)]
    menu = [item for r in rest_list for item in _menu(rng, r.id)]
    menus: dict[str, list[str]] = {}
    for item in menu:
        menus.setdefault(item.restaurant_id, []).append(item.id)
    ranked = rest_list[:]
    rng.shuffle(ranked)
    popularity = [1.0 / (rank + 1) ** ZIPF for rank in range(restaurants)]
    activity = [rng.lognormvariate(0.0, 1.2) for _ in range(users)]
    who = rng.choices(user_list, weights=activity, k=orders)
    fresh = rng.choices(ranked, weights=popularity, k=orders)
    history: dict[str, list[str]] = {}
    order_list: list[OrderRequest] = []
    for i in range(orders):
        user = who[i]
        past = history.setdefault(user.id, [])
        restaurant = rng.choice(past) if past and rng.random() < HABIT else fresh[i].id
        past.append(restaurant)
        items = tuple(rng.sample(menus[restaurant], k=rng.randint(1, min(3, len(menus[restaurant])))))
        rating = rng.choices((1, 2, 3, 4, 5), weights=(5, 5, 15, 35, 40))[0] if rng.random() < 0.4 else None
        when = START + timedelta(seconds=rng.uniform(0, 365 * 86400))
        order_list.append(OrderRequest(f"s{seed}-o{i:07d}", user.id, restaurant, when, rating, items))
    return Dataset(user_list, rest_list, menu, order_list)


def _near(rng: random.Random) -> tuple[float, float]:
    return round(CENTRE[0] + rng.uniform(-0.1, 0.1), 6), round(CENTRE[1] + rng.uniform(-0.12, 0.12), 6)


def _restaurant(rng: random.Random, i: int) -> RestaurantProfile:
    cuisines = tuple(sorted(set(rng.sample(CUISINES, k=rng.randint(1, 2)))))
    lat, lon = _near(rng)
    district = rng.choice(DISTRICTS)
    return RestaurantProfile(
        id=f"r{i:04d}",
        name=f"{rng.choice(WORDS)} {cuisines[0]} {i}",
        address=f"{rng.randint(1, 5)}-{rng.randint(1, 30)}-{rng.randint(1, 20)} {district}, Tokyo",
        lat=lat,
        lon=lon,
        cuisines=cuisines,
        sponsored=rng.random() < 0.03,
    )


def _menu(rng: random.Random, restaurant_id: str) -> list[MenuItemSpec]:
    return [
        MenuItemSpec(
            id=f"{restaurant_id}-m{k}",
            restaurant_id=restaurant_id,
            name=f"Dish {k} of {restaurant_id}",
            price=Decimal(rng.randrange(500, 2500, 10)).quantize(Decimal("0.01")),
            ingredients=tuple(sorted(rng.sample(INGREDIENTS, k=rng.randint(1, 3)))),
        )
        for k in range(1, rng.randint(3, 5) + 1)
    ]
