"""Collaborative filtering and cuisine recommendations on hand-built graphs with exact expected scores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from datastrata.core.errors import NotFound, ValidationError
from datastrata.graph.food import FoodGraph, OrderPlaced, Restaurant, User
from datastrata.graph.recommend import (
    CuisineAffinity,
    Recommendation,
    Weighting,
    cuisine_neighbours,
    favourite_cuisines,
    nearby_for_cuisines,
    recommend_restaurants,
    related_cuisines,
)

T0 = datetime(2025, 9, 1, tzinfo=UTC)
_n = 0


def order(
    food: FoodGraph, user: str, restaurant: str, *, days: int = 0, rating: int | None = None, times: int = 1
) -> None:
    """Apply `times` orders by `user` at `restaurant`."""
    global _n
    events = []
    for _ in range(times):
        _n += 1
        events.append(OrderPlaced(f"o{_n}", user, restaurant, T0 + timedelta(days=days), rating))
    food.apply_orders(events)


def test_seed_story_wowprime_is_recommended_to_a(food: FoodGraph) -> None:
    """User A ordered from Ichiran; user B ordered from Ichiran and Wowprime → Wowprime is recommended to A."""
    food.upsert_restaurants(
        [Restaurant("ichiran", "Ichiran", 35.66, 139.70), Restaurant("wowprime", "Wowprime", 35.67, 139.71)]
    )
    order(food, "A", "ichiran")
    order(food, "B", "ichiran")
    order(food, "B", "wowprime")
    assert recommend_restaurants(food, "A") == [Recommendation("wowprime", 1, False, ("ichiran",))]
    # A sponsored restaurant that paid for the push plan goes first, even with a lower score.
    food.upsert_restaurants([Restaurant("domino", "Domino's", 35.65, 139.72, sponsored=True)])
    order(food, "C", "ichiran")
    order(food, "C", "wowprime")
    order(food, "C", "domino")
    assert recommend_restaurants(food, "A") == [
        Recommendation("domino", 1, True, ("ichiran",)),
        Recommendation("wowprime", 2, False, ("ichiran",)),
    ]
    assert [r.restaurant_id for r in recommend_restaurants(food, "A", sponsored_first=False)] == ["wowprime", "domino"]


@pytest.fixture
def neighbourhood(food: FoodGraph) -> FoodGraph:
    """me: r1 r2; u1: r1 r2 x (x3, rated 5); u2: r1 x y (y rated 2, old); u3: r2 y z (z sponsored); u4: q."""
    food.upsert_restaurants([Restaurant("z", "Z", 35.0, 139.0, sponsored=True)])
    order(food, "me", "r1")
    order(food, "me", "r2")
    order(food, "u1", "r1")
    order(food, "u1", "r2")
    order(food, "u1", "x", times=3, rating=5)
    order(food, "u2", "r1")
    order(food, "u2", "x", rating=3)
    order(food, "u2", "y", days=-30, rating=2)
    order(food, "u3", "r2")
    order(food, "u3", "y", days=5)
    order(food, "u3", "z")
    order(food, "u4", "q")
    return food


def test_exact_pair_scores_and_ordering(neighbourhood: FoodGraph) -> None:
    # x: (r1,u1) (r2,u1) (r1,u2) = 3; y: (r1,u2) (r2,u3) = 2; z: (r2,u3) = 1 but sponsored; q unreachable.
    assert recommend_restaurants(neighbourhood, "me") == [
        Recommendation("z", 1, True, ("r2",)),
        Recommendation("x", 3, False, ("r1", "r2")),
        Recommendation("y", 2, False, ("r1", "r2")),
    ]


def test_other_weightings(neighbourhood: FoodGraph) -> None:
    def scores(weighting: Weighting, **kw: datetime) -> dict[str, int]:
        return {r.restaurant_id: r.score for r in recommend_restaurants(neighbourhood, "me", weighting=weighting, **kw)}

    # orders: x = 3 (u1 via r1) + 3 (u1 via r2) + 1 (u2) = 7; y = 1 + 1; z = 1
    assert scores(Weighting.ORDERS) == {"x": 7, "y": 2, "z": 1}
    # ratings: x = 5 + 5 + 3; y = 2 (u2) + 0 (u3 unrated); z unrated
    assert scores(Weighting.RATINGS) == {"x": 13, "y": 2, "z": 0}
    # recency since T0: u2's y order is 30 days old, so y counts only u3's link
    assert scores(Weighting.RECENCY, since=T0) == {"x": 3, "y": 1, "z": 1}
    with pytest.raises(ValidationError, match="since"):
        recommend_restaurants(neighbourhood, "me", weighting="recency")
    with pytest.raises(ValidationError, match="weighting 'best' is unknown"):
        recommend_restaurants(neighbourhood, "me", weighting="best")


def test_limit_and_unknown_user(neighbourhood: FoodGraph) -> None:
    assert [r.restaurant_id for r in recommend_restaurants(neighbourhood, "me", limit=2)] == ["z", "x"]
    # One sponsored candidate fills limit=1 on its own: the sponsored-only pass is the answer, reasons included.
    assert recommend_restaurants(neighbourhood, "me", limit=1) == [Recommendation("z", 1, True, ("r2",))]
    assert recommend_restaurants(neighbourhood, "me", limit=1, with_reasons=False) == [Recommendation("z", 1, True, ())]
    assert recommend_restaurants(neighbourhood, "me", limit=1, sponsored_first=False) == [
        Recommendation("x", 3, False, ("r1", "r2"))
    ]
    assert recommend_restaurants(neighbourhood, "u4") == []
    with pytest.raises(NotFound, match="user 'ghost'"):
        recommend_restaurants(neighbourhood, "ghost")


@pytest.fixture
def city(food: FoodGraph) -> FoodGraph:
    """A user in Tokyo who mostly orders American, sometimes Japanese; restaurants at known distances."""
    food.upsert_users([User("me", 35.6812, 139.7671), User("fan", 35.68, 139.76), User("other", 35.68, 139.76)])
    food.upsert_restaurants(
        [
            Restaurant("burger-home", "Burger Home", 35.6812, 139.7671, cuisines=("American",)),
            Restaurant("ramen-home", "Ramen Home", 35.6812, 139.7671, cuisines=("Japanese",)),
            Restaurant("diner-1km", "Diner", 35.6902, 139.7671, cuisines=("American",)),  # ~1.0 km north
            Restaurant("diner-3km", "Far Diner", 35.7082, 139.7671, cuisines=("American",)),  # ~3.0 km north
            Restaurant("sushi-2km", "Sushi", 35.6812, 139.7892, cuisines=("Japanese",)),  # ~2.0 km east
            Restaurant("taco-1km", "Taco", 35.6722, 139.7671, cuisines=("Mexican",)),
            Restaurant("pizza-sp", "Pizza", 35.6830, 139.7671, cuisines=("American", "Italian"), sponsored=True),
        ]
    )
    order(food, "me", "burger-home", times=3)
    order(food, "me", "ramen-home")
    for u in ("fan", "other"):
        order(food, u, "burger-home")
        order(food, u, "taco-1km")
    order(food, "fan", "sushi-2km")
    return food


def test_favourite_cuisines_and_geo_radius(city: FoodGraph) -> None:
    assert favourite_cuisines(city, "me") == [("American", 3), ("Japanese", 1)]
    within_2_5 = nearby_for_cuisines(city, "me", radius_km=2.5)
    assert [m.restaurant_id for m in within_2_5] == ["pizza-sp", "diner-1km", "sushi-2km"]
    assert within_2_5[1].distance_km == pytest.approx(1.0, abs=0.01)
    assert [m.restaurant_id for m in nearby_for_cuisines(city, "me", radius_km=5)] == [
        "pizza-sp", "diner-1km", "sushi-2km", "diner-3km"
    ]  # fmt: skip
    assert [m.restaurant_id for m in nearby_for_cuisines(city, "me", radius_km=5, top_cuisines=1)] == [
        "pizza-sp", "diner-1km", "diner-3km"
    ]  # fmt: skip
    assert nearby_for_cuisines(city, "me", radius_km=0.1) == []
    with pytest.raises(ValidationError, match="radius_km"):
        nearby_for_cuisines(city, "me", radius_km=0)


def test_related_cuisines_american_to_mexican(city: FoodGraph) -> None:
    assert cuisine_neighbours(city, "American") == [
        CuisineAffinity("Japanese", 2, ("American",)),
        CuisineAffinity("Mexican", 2, ("American",)),
    ]
    # For me: Japanese is already mine; people who share my cuisines also order Mexican.
    assert related_cuisines(city, "me") == [CuisineAffinity("Mexican", 2, ("American", "Japanese"))]
