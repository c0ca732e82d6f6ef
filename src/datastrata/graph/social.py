"""Social graph: friends-of-friends suggestions and who sits at the centre of the network."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datastrata.graph.algorithms import Subgraph, betweenness
from datastrata.graph.schema import GraphSchema, NodeTable, RelTable
from datastrata.graph.store import GraphStore

SOCIAL_SCHEMA = GraphSchema(
    nodes=(NodeTable("Person", (("name", "STRING"),)),),
    rels=(RelTable("FRIENDS_WITH", "Person", "Person"),),
)


@dataclass(frozen=True, slots=True)
class FriendSuggestion:
    """Someone two steps away who is not yet your friend, with the friends you share."""

    person_id: str
    mutual_friends: tuple[str, ...]


def open_social(url: str | Path) -> GraphStore:
    """Open (creating if missing) a social graph (Person, FRIENDS_WITH)."""
    return GraphStore.open(url, SOCIAL_SCHEMA)


def befriend(store: GraphStore, a: str, b: str) -> None:
    """Record a friendship (stored once, read in both directions)."""
    source, target = sorted((a, b))
    store.upsert_edges("FRIENDS_WITH", [{"source": source, "target": target}])


def friend_suggestions(store: GraphStore, person_id: str, *, limit: int = 10) -> list[FriendSuggestion]:
    """Friends of your friends who are not your friends yet, most mutual friends first, ties by id."""
    rows = store.rows(
        "MATCH (me:Person {id: $id})-[:FRIENDS_WITH]-(f:Person)-[:FRIENDS_WITH]-(s:Person) "
        "WHERE s.id <> $id AND NOT (me)-[:FRIENDS_WITH]-(s) "
        "RETURN s.id AS person, collect(DISTINCT f.id) AS mutual, count(DISTINCT f) AS n "
        "ORDER BY n DESC, person ASC LIMIT $limit",
        {"id": person_id, "limit": limit},
    )
    return [FriendSuggestion(str(p), tuple(sorted(str(m) for m in mutual))) for p, mutual, _ in rows]


def key_people(store: GraphStore, *, limit: int = 5) -> list[tuple[str, float]]:
    """People most often on the shortest paths between others (betweenness centrality), highest first."""
    sub = Subgraph.from_edges(store.edge_list("FRIENDS_WITH"), directed=False)
    return [(str(k), v) for k, v in betweenness(sub)[:limit]]
