"""Communities and bridges (the source article's party-affiliation example): which traits connect groups."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datastrata.graph.algorithms import Subgraph, betweenness
from datastrata.graph.schema import GraphSchema, NodeTable, RelTable
from datastrata.graph.store import GraphStore

PARTY_SCHEMA = GraphSchema(
    nodes=(
        NodeTable("Person", (("name", "STRING"),)),
        NodeTable("Party", (("name", "STRING"),)),
        NodeTable("Trait", (("name", "STRING"), ("kind", "STRING"))),
    ),
    rels=(RelTable("MEMBER_OF", "Person", "Party"), RelTable("HAS_TRAIT", "Person", "Trait")),
)


@dataclass(frozen=True, slots=True)
class BridgeTrait:
    """A trait held by members of more than one community."""

    trait: str
    communities: tuple[str, ...]
    people: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CrossLink:
    """Two people in different communities and the traits they share."""

    a: str
    b: str
    shared: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CommunityProfile:
    """A community's members and the traits every member holds (its centre of gravity)."""

    community: str
    members: tuple[str, ...]
    common_traits: tuple[str, ...]


def open_party(url: str | Path) -> GraphStore:
    """Open (creating if missing) a party-affiliation graph (Person, Party, Trait)."""
    return GraphStore.open(url, PARTY_SCHEMA)


def bridge_traits(store: GraphStore) -> list[BridgeTrait]:
    """Traits shared across communities, those linking the most communities and people first."""
    rows = store.rows(
        "MATCH (g:Party)<-[:MEMBER_OF]-(p:Person)-[:HAS_TRAIT]->(t:Trait) "
        "WITH t, collect(DISTINCT g.id) AS parties, collect(DISTINCT p.id) AS people "
        "WHERE size(parties) > 1 RETURN t.id, parties, people"
    )
    found = [BridgeTrait(str(t), tuple(sorted(parties)), tuple(sorted(people))) for t, parties, people in rows]
    return sorted(found, key=lambda b: (-len(b.communities), -len(b.people), b.trait))


def cross_links(store: GraphStore) -> list[CrossLink]:
    """Pairs of people in different communities with the traits they share, strongest link first."""
    rows = store.rows(
        "MATCH (x:Party)<-[:MEMBER_OF]-(a:Person)-[:HAS_TRAIT]->(t:Trait)<-[:HAS_TRAIT]-(b:Person), "
        "(b)-[:MEMBER_OF]->(y:Party) "
        "WHERE a.id < b.id AND x.id <> y.id RETURN a.id, b.id, collect(DISTINCT t.id)"
    )
    links = [CrossLink(str(a), str(b), tuple(sorted(shared))) for a, b, shared in rows]
    return sorted(links, key=lambda link: (-len(link.shared), link.a, link.b))


def community_profiles(store: GraphStore) -> list[CommunityProfile]:
    """Each community with its members and the traits all of them hold."""
    rows = store.rows(
        "MATCH (g:Party)<-[:MEMBER_OF]-(p:Person) OPTIONAL MATCH (p)-[:HAS_TRAIT]->(t:Trait) "
        "RETURN g.id, p.id, collect(t.id)"
    )
    members: dict[str, dict[str, set[str]]] = {}
    for party, person, traits in rows:
        members.setdefault(str(party), {})[str(person)] = {str(t) for t in traits}
    profiles = []
    for party, people in sorted(members.items()):
        common = set.intersection(*people.values()) if people else set()
        profiles.append(CommunityProfile(party, tuple(sorted(people)), tuple(sorted(common))))
    return profiles


def central_nodes(store: GraphStore, *, limit: int = 5) -> list[tuple[str, float]]:
    """People, parties and traits by betweenness on the whole affiliation graph (bridges score high)."""
    sub = Subgraph.from_edges(
        [(f"Person:{a}", f"Party:{b}") for a, b in store.edge_list("MEMBER_OF")]
        + [(f"Person:{a}", f"Trait:{b}") for a, b in store.edge_list("HAS_TRAIT")],
        directed=False,
    )
    return [(str(k), v) for k, v in betweenness(sub)[:limit]]
