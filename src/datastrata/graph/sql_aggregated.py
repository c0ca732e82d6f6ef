"""The fair SQL peer of the graph: the same pre-aggregated user-restaurant table and the same sponsored-first shortcut.

:mod:`datastrata.graph.sql_baseline` answers from raw order rows, so every query aggregates them again; the graph
keeps one ``ORDERED`` edge per (user, restaurant) with its count, last date and latest rating, maintained from the
events. This module gives SQLite and DuckDB the same: a ``user_restaurants`` table upserted from the same order
events (per batch the pairs are aggregated once, then merged into the stored rows by the database), queried with
the same two steps as :func:`~datastrata.graph.recommend.recommend_restaurants`: sponsored candidates first, and
only when there are fewer than `limit` of them every candidate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from datastrata.core.errors import ValidationError
from datastrata.graph.food import OrderedEdge, OrderPlaced
from datastrata.graph.recommend import MAX_REASONS, Recommendation, Weighting, _weighting
from datastrata.graph.sql_baseline import Dialect, SqlConnection, _timestamp

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS user_restaurants (user_id VARCHAR NOT NULL, restaurant_id VARCHAR NOT NULL, "
    "n BIGINT NOT NULL, last_date TIMESTAMP NOT NULL, rating INTEGER, rated_at TIMESTAMP, rated_order VARCHAR, "
    "PRIMARY KEY (user_id, restaurant_id))",
)
#: SQLite walks from a restaurant to its customers with this; DuckDB's hash joins do without.
SQLITE_INDEXES = ("CREATE INDEX IF NOT EXISTS user_restaurants_rest ON user_restaurants (restaurant_id, user_id)",)

# The stored pair merged with the batch's aggregate of that pair, as OrderedEdge.with_orders merges orders: counts
# add, the last date is the later one, the rating kept is the latest rated order's by (occurred_at, order_id).
_NEWER = (
    "excluded.rated_at IS NOT NULL AND (user_restaurants.rated_at IS NULL OR excluded.rated_at > "
    "user_restaurants.rated_at OR (excluded.rated_at = user_restaurants.rated_at AND excluded.rated_order > "
    "user_restaurants.rated_order))"
)
_MERGE = f"""
ON CONFLICT (user_id, restaurant_id) DO UPDATE SET
    n = user_restaurants.n + excluded.n,
    last_date = CASE WHEN excluded.last_date > user_restaurants.last_date
                     THEN excluded.last_date ELSE user_restaurants.last_date END,
    rating = CASE WHEN {_NEWER} THEN excluded.rating ELSE user_restaurants.rating END,
    rated_at = CASE WHEN {_NEWER} THEN excluded.rated_at ELSE user_restaurants.rated_at END,
    rated_order = CASE WHEN {_NEWER} THEN excluded.rated_order ELSE user_restaurants.rated_order END
"""

# me → r ← other → rec over the aggregated pairs: one row per path, as the graph's traversal.
_PATHS = """
WITH me AS (SELECT ? AS id){since_cte},
mine AS (SELECT restaurant_id AS r FROM user_restaurants WHERE user_id = (SELECT id FROM me)),
paths AS (
    SELECT b.restaurant_id AS rec, a.restaurant_id AS r, {weight} AS w
    FROM user_restaurants a
    JOIN mine ON a.restaurant_id = mine.r
    JOIN user_restaurants b ON b.user_id = a.user_id
    WHERE a.user_id <> (SELECT id FROM me) AND b.restaurant_id NOT IN (SELECT r FROM mine){only}
)
"""
_SPONSORED_ONLY = " AND b.restaurant_id IN (SELECT id FROM restaurants WHERE sponsored)"

_WEIGHTS = {
    Weighting.PAIRS: "1",
    Weighting.ORDERS: "b.n",
    Weighting.RATINGS: "COALESCE(b.rating, 0)",
    Weighting.RECENCY: "CASE WHEN b.last_date >= (SELECT since FROM cut) THEN 1 ELSE 0 END",
}

_TOP = """
SELECT p.rec, COALESCE(MAX(CASE WHEN x.sponsored THEN 1 ELSE 0 END), 0) AS sponsored, SUM(p.w) AS score
FROM paths p LEFT JOIN restaurants x ON x.id = p.rec
GROUP BY p.rec
ORDER BY {order}
LIMIT ?
"""

_REASONS = "SELECT p.rec, p.r, COUNT(*) AS links FROM paths p WHERE p.rec IN ({marks}) GROUP BY p.rec, p.r"


def create_schema(conn: SqlConnection, dialect: Dialect) -> None:
    """Create the aggregated pairs table (and SQLite's index) if missing; the restaurants table is the baseline's."""
    for statement in SCHEMA:
        conn.execute(statement)
    if dialect == "sqlite":
        for statement in SQLITE_INDEXES:
            conn.execute(statement)


def pair_rows(orders: Iterable[OrderPlaced], dialect: Dialect) -> list[tuple[Any, ...]]:
    """Aggregate a batch of orders per (user, restaurant) as the graph does (a repeated order id counts once)."""
    unique: dict[str, OrderPlaced] = {}
    for order in orders:
        unique.setdefault(order.order_id, order)
    pairs: dict[tuple[str, str], list[OrderPlaced]] = {}
    for order in unique.values():
        pairs.setdefault((order.user_id, order.restaurant_id), []).append(order)
    rows = []
    for group in pairs.values():
        edge = OrderedEdge.first(group)
        rated_at = None if edge.rated_at is None else _timestamp(edge.rated_at, dialect)
        rows.append(
            (
                edge.user_id,
                edge.restaurant_id,
                edge.count,
                _timestamp(edge.last_date, dialect),
                edge.rating,
                rated_at,
                edge.rated_order,
            )
        )
    return rows


def apply_orders(conn: SqlConnection, dialect: Dialect, orders: Iterable[OrderPlaced]) -> int:
    """Merge a batch of order events into ``user_restaurants`` (the caller's transaction); return the pairs touched."""
    rows = pair_rows(orders, dialect)
    if not rows:
        return 0
    if dialect == "sqlite":
        conn.executemany(  # type: ignore[attr-defined]
            "INSERT INTO user_restaurants VALUES (?, ?, ?, ?, ?, ?, ?)" + _MERGE, rows
        )
        return len(rows)
    import pyarrow as pa

    columns = ("user_id", "restaurant_id", "n", "last_date", "rating", "rated_at", "rated_order")
    types = (pa.string(), pa.string(), pa.int64(), pa.timestamp("us"), pa.int32(), pa.timestamp("us"), pa.string())
    columns_of = zip(columns, types, strict=True)
    table = pa.table({name: pa.array([r[i] for r in rows], kind) for i, (name, kind) in enumerate(columns_of)})
    conn.register("pairs_in", table)  # type: ignore[attr-defined]
    try:
        conn.execute("INSERT INTO user_restaurants SELECT * FROM pairs_in" + _MERGE)
    finally:
        conn.unregister("pairs_in")  # type: ignore[attr-defined]
    return len(rows)


def _paths(w: Weighting, *, sponsored_only: bool) -> str:
    return _PATHS.format(
        since_cte=", cut AS (SELECT ? AS since)" if w is Weighting.RECENCY else "",
        weight=_WEIGHTS[w],
        only=_SPONSORED_ONLY if sponsored_only else "",
    )


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
    """Answer recommend_restaurants() from the aggregated pairs: same results, same order, same shortcut."""
    w = _weighting(weighting)
    if limit < 1:
        raise ValidationError(f"limit {limit} must be at least 1", field="limit")
    params: list[Any] = [user_id]
    if w is Weighting.RECENCY:
        if since is None:
            raise ValidationError("weighting 'recency' needs since=<aware datetime>; pass the cut-off", field="since")
        params.append(_timestamp(since, dialect))
    order = "sponsored DESC, score DESC, p.rec ASC" if sponsored_first else "score DESC, p.rec ASC"
    top: Sequence[Sequence[Any]] = []
    if sponsored_first:
        top = conn.execute(_paths(w, sponsored_only=True) + _TOP.format(order=order), [*params, limit]).fetchall()
    if len(top) < limit:
        top = conn.execute(_paths(w, sponsored_only=False) + _TOP.format(order=order), [*params, limit]).fetchall()
    reasons: dict[str, tuple[str, ...]] = {}
    if with_reasons and top:
        ids = [str(row[0]) for row in top]
        sql = _paths(Weighting.PAIRS, sponsored_only=False) + _REASONS.format(marks=", ".join("?" for _ in ids))
        links: dict[str, list[tuple[int, str]]] = {}
        for rec, via, count in conn.execute(sql, [user_id, *ids]).fetchall():
            links.setdefault(str(rec), []).append((-int(count), str(via)))
        reasons = {rec: tuple(v for _, v in sorted(pairs)[:MAX_REASONS]) for rec, pairs in links.items()}
    return [Recommendation(str(rec), int(score), bool(sp), reasons.get(str(rec), ())) for rec, sp, score in top]
