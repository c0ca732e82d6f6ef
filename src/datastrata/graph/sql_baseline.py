"""The collaborative-filtering question as plain SQL self-joins, for SQLite and DuckDB (the graph's peer)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from datastrata.core.errors import ValidationError
from datastrata.graph.food import OrderPlaced
from datastrata.graph.recommend import MAX_REASONS, Recommendation, Weighting, _weighting

Dialect = Literal["sqlite", "duckdb"]


class SqlConnection(Protocol):
    """The part of a DB-API connection (sqlite3, duckdb) the baseline uses."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any:
        """Run one statement."""


SCHEMA = (
    "CREATE TABLE IF NOT EXISTS restaurants (id VARCHAR PRIMARY KEY, sponsored BOOLEAN NOT NULL DEFAULT FALSE)",
    "CREATE TABLE IF NOT EXISTS orders (order_id VARCHAR PRIMARY KEY, user_id VARCHAR NOT NULL, "
    "restaurant_id VARCHAR NOT NULL, occurred_at TIMESTAMP NOT NULL, rating INTEGER)",
)

#: SQLite needs these for the self-joins; DuckDB's hash joins do without.
SQLITE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS orders_user ON orders (user_id, restaurant_id)",
    "CREATE INDEX IF NOT EXISTS orders_restaurant ON orders (restaurant_id, user_id)",
)

# mine: where I ordered; links: distinct (r, other) pairs; theirs: each other's restaurants I never ordered from,
# with the per-pair figures the graph keeps on its ORDERED edge (count, last date, latest rating).
_CTES = """
WITH mine AS (
    SELECT DISTINCT restaurant_id AS r FROM orders WHERE user_id = ?
),
links AS (
    SELECT DISTINCT o.restaurant_id AS r, o.user_id AS other
    FROM orders o JOIN mine ON o.restaurant_id = mine.r
    WHERE o.user_id <> ?
),
others AS (
    SELECT DISTINCT other FROM links
),
theirs AS (
    SELECT o.user_id AS other, o.restaurant_id AS rec, COUNT(*) AS n, MAX(o.occurred_at) AS last_date
    FROM orders o JOIN others ON o.user_id = others.other
    WHERE o.restaurant_id NOT IN (SELECT r FROM mine)
    GROUP BY o.user_id, o.restaurant_id
),
rated AS (
    SELECT user_id AS other, restaurant_id AS rec, rating,
           ROW_NUMBER() OVER (PARTITION BY user_id, restaurant_id ORDER BY occurred_at DESC, order_id DESC) AS rn
    FROM orders
    WHERE rating IS NOT NULL AND {rated_filter}
),
paths AS (
    SELECT t.rec, l.r, {weight} AS w
    FROM links l
    JOIN theirs t ON t.other = l.other
    LEFT JOIN rated q ON q.other = t.other AND q.rec = t.rec AND q.rn = 1
)
"""

_WEIGHTS = {
    Weighting.PAIRS: "1",
    Weighting.ORDERS: "t.n",
    Weighting.RATINGS: "COALESCE(q.rating, 0)",
    Weighting.RECENCY: "CASE WHEN t.last_date >= ? THEN 1 ELSE 0 END",
}

_TOP = """
SELECT p.rec, COALESCE(MAX(CASE WHEN x.sponsored THEN 1 ELSE 0 END), 0) AS sponsored, SUM(p.w) AS score
FROM paths p LEFT JOIN restaurants x ON x.id = p.rec
GROUP BY p.rec
ORDER BY {order}
LIMIT ?
"""

_REASONS = """
SELECT p.rec, p.r, COUNT(*) AS links FROM paths p WHERE p.rec IN ({marks}) GROUP BY p.rec, p.r
"""


def create_schema(conn: SqlConnection, dialect: Dialect) -> None:
    """Create the orders and restaurants tables (and SQLite's indexes) if missing."""
    for statement in SCHEMA:
        conn.execute(statement)
    if dialect == "sqlite":
        for statement in SQLITE_INDEXES:
            conn.execute(statement)


def _timestamp(value: datetime, dialect: Dialect) -> Any:
    utc = value.astimezone(UTC).replace(tzinfo=None)
    # SQLite has no timestamp type: a fixed-width ISO text compares in time order.
    return utc.isoformat(sep=" ", timespec="microseconds") if dialect == "sqlite" else utc


def insert_orders(conn: SqlConnection, dialect: Dialect, orders: Iterable[OrderPlaced]) -> None:
    """Insert orders (one row per order) with the timestamp encoding the dialect compares correctly."""
    rows = [(o.order_id, o.user_id, o.restaurant_id, _timestamp(o.occurred_at, dialect), o.rating) for o in orders]
    if rows:
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", rows)  # type: ignore[attr-defined]


def insert_restaurants(conn: SqlConnection, rows: Iterable[tuple[str, bool]]) -> None:
    """Insert restaurants as (id, sponsored)."""
    data = list(rows)
    if data:
        conn.executemany("INSERT INTO restaurants VALUES (?, ?)", data)  # type: ignore[attr-defined]


def collaborative_sql(weighting: Weighting | str = Weighting.PAIRS, *, sponsored_first: bool = True) -> str:
    """Return the top-candidates SQL (parameters: user_id, user_id, then since for recency, then limit)."""
    w = _weighting(weighting)
    return _ctes(w) + _TOP.format(order=_order(sponsored_first))


def _ctes(w: Weighting) -> str:
    rated_filter = "user_id IN (SELECT other FROM others)" if w is Weighting.RATINGS else "FALSE"
    return _CTES.format(weight=_WEIGHTS[w], rated_filter=rated_filter)


def _order(sponsored_first: bool) -> str:
    return "sponsored DESC, score DESC, p.rec ASC" if sponsored_first else "score DESC, p.rec ASC"


def _cte_params(w: Weighting, user_id: str, since: datetime | None, dialect: Dialect) -> list[Any]:
    params: list[Any] = [user_id, user_id]
    if w is Weighting.RECENCY:
        if since is None:
            raise ValidationError("weighting 'recency' needs since=<aware datetime>; pass the cut-off", field="since")
        params.append(_timestamp(since, dialect))
    return params


def recommend_sql(
    conn: SqlConnection,
    dialect: Dialect,
    user_id: str,
    *,
    limit: int = 10,
    weighting: Weighting | str = Weighting.PAIRS,
    since: datetime | None = None,
    sponsored_first: bool = True,
    with_reasons: bool = True,
) -> list[Recommendation]:
    """Answer recommend_restaurants() with SQL self-joins over orders/restaurants; same results, same order."""
    w = _weighting(weighting)
    if limit < 1:
        raise ValidationError(f"limit {limit} must be at least 1", field="limit")
    params = _cte_params(w, user_id, since, dialect)
    top = conn.execute(_ctes(w) + _TOP.format(order=_order(sponsored_first)), [*params, limit]).fetchall()
    reasons: dict[str, tuple[str, ...]] = {}
    if with_reasons and top:
        ids = [str(row[0]) for row in top]
        sql = _ctes(Weighting.PAIRS) + _REASONS.format(marks=", ".join("?" for _ in ids))
        links: dict[str, list[tuple[int, str]]] = {}
        for rec, via, count in conn.execute(sql, [user_id, user_id, *ids]).fetchall():
            links.setdefault(str(rec), []).append((-int(count), str(via)))
        reasons = {rec: tuple(v for _, v in sorted(pairs)[:MAX_REASONS]) for rec, pairs in links.items()}
    return [Recommendation(str(rec), int(score), bool(sp), reasons.get(str(rec), ())) for rec, sp, score in top]
