"""Food recommendations in Cypher: collaborative filtering, nearby favourite cuisines, related cuisines.

Ids and cuisine names here are the graph's keys, which name their tenant (:func:`datastrata.graph.food.tenant_key`):
every edge joins two nodes of one tenant, so a query that starts at one tenant's user only ever meets that tenant's
nodes. The food service turns ids into keys on the way in and back on the way out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from datastrata.core.errors import NotFound, ValidationError
from datastrata.graph.food import FoodGraph
from datastrata.graph.geo import bounding_box, haversine_km

#: How many of your restaurants are named as the reason for one recommendation.
MAX_REASONS = 3


class Weighting(StrEnum):
    """How a candidate restaurant is scored over the paths me→r←other→candidate."""

    #: Number of distinct (r, other) pairs linking you to the candidate (the default).
    PAIRS = "pairs"
    #: Sum over those pairs of the other user's order count at the candidate.
    ORDERS = "orders"
    #: Sum over those pairs of the other user's latest rating (1-5) of the candidate; unrated adds 0.
    RATINGS = "ratings"
    #: Number of those pairs where the other user's last order at the candidate is on or after `since`.
    RECENCY = "recency"


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One recommended restaurant: its score, whether it is sponsored, and which of your restaurants led to it."""

    restaurant_id: str
    score: int
    sponsored: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CuisineMatch:
    """A nearby restaurant serving one of your cuisines (`cuisines`: the ones of yours it serves)."""

    restaurant_id: str
    name: str
    cuisines: tuple[str, ...]
    distance_km: float
    sponsored: bool


@dataclass(frozen=True, slots=True)
class CuisineAffinity:
    """A cuisine and how strongly it is linked to the one(s) asked about."""

    cuisine: str
    users: int
    via: tuple[str, ...]


#: Score of a candidate over the paths me→r←other-[o]→rec (summed per (rec, r) group, then per rec).
_SCORES = {
    Weighting.PAIRS: "count(*)",
    Weighting.ORDERS: "sum(o.count)",
    Weighting.RATINGS: "sum(coalesce(o.rating, 0))",
    Weighting.RECENCY: "sum(CASE WHEN o.last_date >= $since THEN 1 ELSE 0 END)",
}

# Your restaurants: their internal offsets (the candidate queries return `offset(id(r))` for the reasons and exclude
# your restaurants by offset) and their ids. Neo4j: id(r) instead of offset(id(r)).
_MINE = "MATCH (:User {id: $user_id})-[:ORDERED]->(r:Restaurant) RETURN offset(id(r)), r.id"

# Every candidate, one traversal. Grouping by id(rec) and matching the restaurant afterwards keeps LadybugDB from
# reading restaurant properties for every path (it reads node properties through a hash join), and grouping by
# (rec, r) gives the reasons in the same pass. Your own restaurants are the only ones reached through other = me,
# and they are excluded, so `other <> me` needs no filter. Neo4j: `WITH rec, r, …` and `NOT (me)-[:ORDERED]->(rec)`.
_ALL = """
MATCH (me:User {{id: $user_id}})-[:ORDERED]->(r:Restaurant)<-[:ORDERED]-(other:User)-[o:ORDERED]->(rec:Restaurant)
WITH id(rec) AS rid{group}
WITH rid, {total}
WHERE NOT offset(rid) IN $mine_offsets
MATCH (x:Restaurant)
WHERE id(x) = rid
RETURN x.id AS restaurant_id, coalesce(x.sponsored, false) AS sponsored, score{reasons}
ORDER BY {order}
LIMIT $limit
"""

# Sponsored candidates only. Sponsored candidates come first, so when there are at least `limit` of them they are
# the whole answer and the other candidates need no score. The hint starts from the sponsored restaurants and
# their customers and joins them on `other` with the customers of your restaurants: the cost follows the
# sponsored restaurants' edges, not your neighbourhood's paths (benchmark median: 540 of 34k paths are sponsored).
# LadybugDB's planner otherwise expands every path first. Neo4j: no HINT; `USING JOIN ON other` asks the same.
_SPONSORED = """
MATCH (me:User {{id: $user_id}})-[e1:ORDERED]->(r:Restaurant)<-[e2:ORDERED]-(other:User)-[o:ORDERED]->(rec:Restaurant)
WHERE rec.sponsored
HINT (((other JOIN e2) JOIN (rec JOIN o)) JOIN r) JOIN (me JOIN e1)
WITH rec.id AS restaurant_id, offset(id(r)) AS via, count(*) AS links, {score} AS part
WITH restaurant_id, sum(part) AS score, collect(via) AS vias, collect(links) AS counts
WHERE NOT restaurant_id IN $mine_ids
RETURN restaurant_id, true AS sponsored, score, vias, counts
ORDER BY score DESC, restaurant_id ASC
LIMIT $limit
"""


def collaborative_cypher(
    weighting: Weighting | str = Weighting.PAIRS,
    *,
    sponsored_first: bool = True,
    sponsored_only: bool = False,
    with_reasons: bool = True,
) -> str:
    """Return a collaborative-filtering Cypher query.

    Parameters: user_id, limit, since (recency only) and your restaurants, as `mine_offsets` (offset(id(r)),
    the default query) or `mine_ids` (`sponsored_only`). Rows: restaurant_id, sponsored, score, and with reasons
    the offsets of your restaurants leading there (`vias`) with the paths through each (`counts`).
    `sponsored_only` scores sponsored candidates alone (always with reasons).
    """
    w = _weighting(weighting)
    if sponsored_only:
        return _SPONSORED.format(score=_SCORES[w])
    order = "sponsored DESC, score DESC, restaurant_id ASC" if sponsored_first else "score DESC, restaurant_id ASC"
    if with_reasons:
        group = f", offset(id(r)) AS via, count(*) AS links, {_SCORES[w]} AS part"
        total = "sum(part) AS score, collect(via) AS vias, collect(links) AS counts"
        return _ALL.format(group=group, total=total, reasons=", vias, counts", order=order)
    return _ALL.format(group=f", {_SCORES[w]} AS score", total="score", reasons="", order=order)


def recommend_restaurants(
    graph: FoodGraph,
    user_id: str,
    *,
    limit: int = 10,
    weighting: Weighting | str = Weighting.PAIRS,
    since: datetime | None = None,
    sponsored_first: bool = True,
    with_reasons: bool = True,
) -> list[Recommendation]:
    """People who ordered where you ordered also ordered at…: candidates you have not ordered from, best first.

    Candidates are restaurants reached by (me)-[:ORDERED]->(r)<-[:ORDERED]-(other)-[:ORDERED]->(rec), other ≠ me,
    with no ORDERED edge from me to rec. Sponsored candidates come first (in score order), then the rest; ties
    go to the smaller restaurant id.

    With sponsored first, the sponsored candidates are scored first; only when there are fewer than `limit` of
    them are all candidates scored. The reads run in one read-only transaction on a reader connection, so they
    see one committed graph and neither wait for nor block the projection's write transaction.
    """
    w = _weighting(weighting)
    if limit < 1:
        raise ValidationError(f"limit {limit} must be at least 1", field="limit")
    params: dict[str, object] = {"user_id": user_id, "limit": limit}
    if w is Weighting.RECENCY:
        if since is None:
            raise ValidationError("weighting 'recency' needs since=<aware datetime>; pass the cut-off", field="since")
        params["since"] = since
    with graph.store.db.reading() as tx:
        mine = {int(offset): str(rid) for offset, rid in graph.store.rows(_MINE, {"user_id": user_id}, tx=tx)}
        if not mine:  # no orders, so no paths: tell an unknown user from one who has not ordered yet
            if not graph.store.rows("MATCH (u:User {id: $id}) RETURN u.id", {"id": user_id}, tx=tx):
                raise NotFound(
                    f"user {user_id!r} is not in the graph; upsert the user or apply their orders first",
                    field="user_id",
                )
            return []
        rows = []
        if sponsored_first:
            query = collaborative_cypher(w, sponsored_only=True)
            rows = graph.store.rows(query, {**params, "mine_ids": sorted(mine.values())}, tx=tx)
        if len(rows) < limit:
            query = collaborative_cypher(w, sponsored_first=sponsored_first, with_reasons=with_reasons)
            rows = graph.store.rows(query, {**params, "mine_offsets": sorted(mine)}, tx=tx)
    return [
        Recommendation(
            str(row[0]),
            int(row[2]),
            bool(row[1]),
            _top_reasons(mine, row[3], row[4]) if with_reasons else (),
        )
        for row in rows
    ]


def _top_reasons(mine: dict[int, str], vias: list[int], counts: list[int]) -> tuple[str, ...]:
    """Your restaurants leading to a candidate, most paths first, ties by id; at most MAX_REASONS."""
    ranked = sorted((-int(n), mine[int(v)]) for v, n in zip(vias, counts, strict=True))
    return tuple(via for _, via in ranked[:MAX_REASONS])


def _weighting(weighting: Weighting | str) -> Weighting:
    try:
        return Weighting(weighting)
    except ValueError:
        raise ValidationError(
            f"weighting {weighting!r} is unknown; use one of {[w.value for w in Weighting]}", field="weighting"
        ) from None


def favourite_cuisines(graph: FoodGraph, user_id: str, *, limit: int = 3) -> list[tuple[str, int]]:
    """Return the user's most-ordered cuisines as (cuisine, orders), most first, ties by name."""
    rows = graph.store.rows(
        "MATCH (u:User {id: $user_id})-[o:ORDERED]->(:Restaurant)-[:SERVES]->(c:Cuisine) "
        "RETURN c.name AS cuisine, sum(o.count) AS orders ORDER BY orders DESC, cuisine ASC LIMIT $limit",
        {"user_id": user_id, "limit": limit},
    )
    return [(str(c), int(n)) for c, n in rows]


def nearby_for_cuisines(
    graph: FoodGraph,
    user_id: str,
    *,
    radius_km: float = 5.0,
    cuisines: list[str] | None = None,
    top_cuisines: int = 3,
    limit: int = 10,
) -> list[CuisineMatch]:
    """What might you like: restaurants within `radius_km` serving your favourite cuisines, not yet ordered from.

    `cuisines` defaults to the user's `top_cuisines` most-ordered ones. Results: sponsored first, then nearest.
    """
    found = graph.store.rows("MATCH (u:User {id: $id}) RETURN u.lat, u.lon", {"id": user_id})
    if not found:
        raise NotFound(f"user {user_id!r} is not in the graph; upsert the user first", field="user_id")
    lat, lon = found[0]
    if lat is None or lon is None:
        raise ValidationError(f"user {user_id!r} has no position; upsert the user with lat and lon", field="lat")
    wanted = (
        cuisines if cuisines is not None else [c for c, _ in favourite_cuisines(graph, user_id, limit=top_cuisines)]
    )
    if not wanted:
        return []
    box = bounding_box(float(lat), float(lon), radius_km)
    rows = graph.store.rows(
        "MATCH (me:User {id: $user_id}), (r:Restaurant)-[:SERVES]->(c:Cuisine) "
        "WHERE c.name IN $cuisines AND r.lat >= $lat_min AND r.lat <= $lat_max "
        "AND r.lon >= $lon_min AND r.lon <= $lon_max AND NOT (me)-[:ORDERED]->(r) "
        "RETURN r.id, r.name, r.lat, r.lon, coalesce(r.sponsored, false), collect(c.name)",
        {
            "user_id": user_id,
            "cuisines": wanted,
            "lat_min": box.lat_min,
            "lat_max": box.lat_max,
            "lon_min": box.lon_min,
            "lon_max": box.lon_max,
        },
    )
    matches = []
    for rid, name, rlat, rlon, sponsored, served in rows:
        distance = haversine_km(float(lat), float(lon), float(rlat), float(rlon))
        if distance <= radius_km:
            matches.append(CuisineMatch(str(rid), str(name or ""), tuple(sorted(served)), distance, bool(sponsored)))
    matches.sort(key=lambda m: (not m.sponsored, m.distance_km, m.restaurant_id))
    return matches[:limit]


def cuisine_neighbours(graph: FoodGraph, cuisine: str, *, limit: int = 5) -> list[CuisineAffinity]:
    """Cuisines most often ordered by the people who order `cuisine` (e.g. American → Mexican)."""
    return related_cuisines_for(graph, [cuisine], limit=limit)


def related_cuisines(graph: FoodGraph, user_id: str, *, top_cuisines: int = 3, limit: int = 5) -> list[CuisineAffinity]:
    """Cuisines often ordered by people who share your favourite cuisines, excluding the ones you already order."""
    mine = [c for c, _ in favourite_cuisines(graph, user_id, limit=top_cuisines)]
    if not mine:
        return []
    ordered = {
        str(c)
        for (c,) in graph.store.rows(
            "MATCH (:User {id: $id})-[:ORDERED]->(:Restaurant)-[:SERVES]->(c:Cuisine) RETURN DISTINCT c.name",
            {"id": user_id},
        )
    }
    related = related_cuisines_for(graph, mine, limit=limit + len(ordered), exclude_user=user_id)
    return [a for a in related if a.cuisine not in ordered][:limit]


def related_cuisines_for(
    graph: FoodGraph, cuisines: list[str], *, limit: int = 5, exclude_user: str | None = None
) -> list[CuisineAffinity]:
    """Cuisines (other than `cuisines`) ranked by how many distinct users order both, ties by name."""
    rows = graph.store.rows(
        "MATCH (c:Cuisine)<-[:SERVES]-(:Restaurant)<-[:ORDERED]-(u:User), "
        "(u)-[:ORDERED]->(:Restaurant)-[:SERVES]->(d:Cuisine) "
        "WHERE c.name IN $cuisines AND NOT d.name IN $cuisines AND u.id <> $exclude "
        "RETURN d.name AS cuisine, count(DISTINCT u) AS users, collect(DISTINCT c.name) AS via "
        "ORDER BY users DESC, cuisine ASC LIMIT $limit",
        {"cuisines": cuisines, "limit": limit, "exclude": exclude_user or ""},
    )
    return [CuisineAffinity(str(c), int(n), tuple(sorted(via))) for c, n, via in rows]
