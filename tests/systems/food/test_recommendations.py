"""Recommendations through the service: exact scores, sponsored first, geo filter, enrichment, consistency token."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from datastrata.core.errors import ConsistencyTimeout, ValidationError
from datastrata.systems.food.service import FoodService, Suggestion
from datastrata.systems.food.store import OrderRequest

from .conftest import NOW

_n = 0


def order(svc: FoodService, user: str, rid: str, *, days: int = 0, rating: int | None = None, times: int = 1) -> int:
    """Place `times` orders and return the last token."""
    global _n
    requests = []
    for _ in range(times):
        _n += 1
        requests.append(OrderRequest(f"o{_n}", user, rid, NOW - timedelta(days=10 - days), rating))
    return svc.place_orders(requests).token


@pytest.fixture
def neighbourhood(svc: FoodService) -> FoodService:
    """me: r1 r2; u1: r1 r2 x (x3, rated 5); u2: r1 x y (y rated 2, old); u3: r2 y z (z sponsored); u4: q."""
    for user in ("me", "u1", "u2", "u3", "u4"):
        svc.add_user(user, lat=35.68, lon=139.76)
    for rid in ("r1", "r2", "x", "y", "z", "q"):
        svc.add_restaurant(rid, name=f"Restaurant {rid.upper()}", address=f"{rid} street", lat=35.68, lon=139.76,
                           sponsored=rid == "z")  # fmt: skip
    order(svc, "me", "r1")
    order(svc, "me", "r2")
    order(svc, "u1", "r1")
    order(svc, "u1", "r2")
    order(svc, "u1", "x", times=3, rating=5)
    order(svc, "u2", "r1")
    order(svc, "u2", "x", rating=3)
    order(svc, "u2", "y", days=-30, rating=2)
    order(svc, "u3", "r2")
    order(svc, "u3", "y", days=5)
    order(svc, "u3", "z")
    order(svc, "u4", "q")
    return svc


def test_exact_scores_sponsored_first_and_enriched(neighbourhood: FoodService) -> None:
    # x: (r1,u1) (r2,u1) (r1,u2) = 3; y: (r1,u2) (r2,u3) = 2; z: (r2,u3) = 1 but sponsored; q unreachable.
    assert neighbourhood.recommend("me", catch_up=True) == [
        Suggestion("z", "Restaurant Z", "z street", 1, True, ("r2",)),
        Suggestion("x", "Restaurant X", "x street", 3, False, ("r1", "r2")),
        Suggestion("y", "Restaurant Y", "y street", 2, False, ("r1", "r2")),
    ]
    assert [s.restaurant_id for s in neighbourhood.recommend("me", limit=2)] == ["z", "x"]
    assert neighbourhood.recommend("u4") == []


def test_weightings(neighbourhood: FoodService) -> None:
    neighbourhood.catch_up()

    def scores(weighting: str, **kw: datetime) -> dict[str, int]:
        return {s.restaurant_id: s.score for s in neighbourhood.recommend("me", weighting=weighting, **kw)}

    assert scores("orders") == {"x": 7, "y": 2, "z": 1}
    assert scores("ratings") == {"x": 13, "y": 2, "z": 0}
    # recency defaults to the last 30 days before the clock: u2's y order is 40 days old
    assert scores("recency") == {"x": 3, "y": 1, "z": 1}
    assert scores("recency", since=NOW - timedelta(days=6)) == {"x": 0, "y": 1, "z": 0}
    with pytest.raises(ValidationError, match="weighting 'best' is unknown"):
        neighbourhood.recommend("me", weighting="best")


def test_sponsorship_change_reorders(neighbourhood: FoodService) -> None:
    neighbourhood.set_sponsored("z", False)
    token = neighbourhood.set_sponsored("y").token
    assert [s.restaurant_id for s in neighbourhood.recommend("me", after=token)] == ["y", "x", "z"]


def test_consistency_token(neighbourhood: FoodService) -> None:
    neighbourhood.catch_up()
    neighbourhood.add_restaurant("new", name="Brand New", lat=35.68, lon=139.76)
    token = order(neighbourhood, "u1", "new")
    assert neighbourhood.lag().behind > 0
    assert "new" not in {s.restaurant_id for s in neighbourhood.recommend("me")}  # stale without the token
    assert "new" in {s.restaurant_id for s in neighbourhood.recommend("me", after=token)}
    assert neighbourhood.lag().behind == 0
    neighbourhood.runner.wait_for(token)  # already there: returns at once
    with pytest.raises(ConsistencyTimeout, match="retry later"):
        neighbourhood.runner.wait_for(token + 10**12, timeout=0.05)


def test_geo_filtered_cuisines(svc: FoodService) -> None:
    svc.add_user("me", lat=35.6812, lon=139.7671)
    svc.add_user("fan", lat=35.68, lon=139.76)
    places = [
        ("burger-home", 35.6812, 139.7671, ["American"], False),
        ("ramen-home", 35.6812, 139.7671, ["Japanese"], False),
        ("diner-1km", 35.6902, 139.7671, ["American"], False),
        ("diner-3km", 35.7082, 139.7671, ["American"], False),
        ("sushi-2km", 35.6812, 139.7892, ["Japanese"], False),
        ("taco-1km", 35.6722, 139.7671, ["Mexican"], False),
        ("pizza-sp", 35.6830, 139.7671, ["American", "Italian"], True),
    ]
    for rid, lat, lon, cuisines, sponsored in places:
        svc.add_restaurant(rid, name=rid.title(), address=f"{rid} st", lat=lat, lon=lon, cuisines=cuisines,
                           sponsored=sponsored)  # fmt: skip
    order(svc, "me", "burger-home", times=3)
    order(svc, "me", "ramen-home")
    order(svc, "fan", "burger-home")
    token = order(svc, "fan", "taco-1km")
    near = svc.cuisines("me", near_km=2.5, after=token)
    assert near["favourites"] == [{"cuisine": "American", "orders": 3}, {"cuisine": "Japanese", "orders": 1}]
    assert [m["restaurant_id"] for m in near["nearby"]] == ["pizza-sp", "diner-1km", "sushi-2km"]
    assert near["nearby"][1]["distance_km"] == pytest.approx(1.0, abs=0.01)
    assert near["nearby"][1]["address"] == "diner-1km st"
    assert near["related"] == [{"cuisine": "Mexican", "users": 1, "via": ["American"]}]
    far = svc.cuisines("me", near_km=5)
    assert [m["restaurant_id"] for m in far["nearby"]] == ["pizza-sp", "diner-1km", "sushi-2km", "diner-3km"]
    assert svc.cuisines("me", near_km=0.1)["nearby"] == []
    with pytest.raises(ValidationError, match="near_km"):
        svc.cuisines("me", near_km=0)


def test_a_registered_user_not_yet_in_the_graph_gets_nothing(svc: FoodService) -> None:
    svc.add_user("late", lat=0, lon=0)
    assert svc.recommend("late") == []
    assert svc.cuisines("late")["favourites"] == []
    assert svc.recommend("late", catch_up=True) == []
