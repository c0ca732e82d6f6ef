"""The collaborative-filtering question in SQL, naive (raw orders) and fair (aggregated pairs), agrees with Cypher."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest

from datastrata.graph import sql_aggregated, sql_baseline
from datastrata.graph.food import FoodGraph, OrderPlaced, Restaurant
from datastrata.graph.recommend import Weighting, recommend_restaurants

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def engines() -> Iterator[dict[str, Any]]:
    """An in-memory SQLite and DuckDB connection with the baseline schema."""
    lite = sqlite3.connect(":memory:")
    duck = duckdb.connect(":memory:")
    for conn, dialect in ((lite, "sqlite"), (duck, "duckdb")):
        sql_baseline.create_schema(conn, dialect)  # type: ignore[arg-type]
        sql_aggregated.create_schema(conn, dialect)  # type: ignore[arg-type]
    yield {"sqlite": lite, "duckdb": duck}
    lite.close()
    duck.close()


def load_everywhere(
    food: FoodGraph, engines: dict[str, Any], restaurants: list[Restaurant], orders: list[OrderPlaced]
) -> None:
    """Put the same restaurants and orders into the graph and both SQL engines (raw rows and aggregated pairs).

    The pairs are merged batch by batch, in reverse order, so the merge of a stored pair with a later batch (and a
    rating that arrives before a later-dated one) is exercised.
    """
    food.upsert_restaurants(restaurants)
    food.apply_orders(orders)
    for dialect, conn in engines.items():
        sql_baseline.insert_restaurants(conn, ((r.id, r.sponsored) for r in restaurants))
        sql_baseline.insert_orders(conn, dialect, orders)
        backwards = orders[::-1]
        for start in range(0, len(backwards), 7):
            sql_aggregated.apply_orders(conn, dialect, backwards[start : start + 7])


def assert_same(food: FoodGraph, engines: dict[str, Any], users: list[str], **kw: Any) -> None:
    """Cypher, SQLite and DuckDB (naive and fair SQL) return identical recommendations for every user."""
    for user in users:
        expected = recommend_restaurants(food, user, **kw)
        for dialect, conn in engines.items():
            assert sql_baseline.recommend_sql(conn, dialect, user, **kw) == expected, (dialect, user, kw)
            assert sql_aggregated.recommend_sql(conn, dialect, user, **kw) == expected, ("fair", dialect, user, kw)


def test_hand_built_graph(food: FoodGraph, engines: dict[str, Any]) -> None:
    restaurants = [Restaurant(r, r, 35.0, 139.0, sponsored=(r == "z")) for r in ("r1", "r2", "x", "y", "z")]
    rows = [("me", "r1"), ("me", "r2"), ("u1", "r1"), ("u1", "r2"), ("u1", "x"), ("u1", "x"), ("u2", "r1"),
            ("u2", "x"), ("u2", "y"), ("u3", "r2"), ("u3", "y"), ("u3", "z")]  # fmt: skip
    orders = [
        OrderPlaced(f"o{i}", u, r, T0 + timedelta(days=i), (i % 5) + 1 if i % 2 else None)
        for i, (u, r) in enumerate(rows)
    ]
    load_everywhere(food, engines, restaurants, orders)
    assert [r.restaurant_id for r in recommend_restaurants(food, "me")] == ["z", "x", "y"]
    for weighting in Weighting:
        assert_same(food, engines, ["me", "u1", "u2", "u3"], weighting=weighting, since=T0 + timedelta(days=6))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_data(food: FoodGraph, engines: dict[str, Any], seed: int) -> None:
    rng = random.Random(seed)
    restaurants = [Restaurant(f"r{i:02d}", f"R{i}", 35.0, 139.0, sponsored=rng.random() < 0.15) for i in range(25)]
    orders = []
    for i in range(400):
        user = f"u{min(int(rng.paretovariate(1.2)), 40):02d}"  # heavy and light users
        restaurant = f"r{min(int(rng.paretovariate(1.0)) - 1, 24):02d}"  # popular restaurants
        when = T0 + timedelta(hours=rng.randrange(0, 24 * 60))
        orders.append(OrderPlaced(f"o{i}", user, restaurant, when, rng.choice([None, 1, 2, 3, 4, 5])))
    load_everywhere(food, engines, restaurants, orders)
    users = sorted({o.user_id for o in orders})
    for weighting in Weighting:
        assert_same(food, engines, users, weighting=weighting, since=T0 + timedelta(days=30), limit=8)
        # Small limits: most users have that many sponsored candidates, which are then the whole answer.
        assert_same(food, engines, users, weighting=weighting, since=T0 + timedelta(days=30), limit=2)
    assert_same(food, engines, users[:5], sponsored_first=False, limit=50)
    assert_same(food, engines, users, limit=3, with_reasons=False)
