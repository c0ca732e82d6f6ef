"""The seed's other graph questions on the shipped example datasets."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from datastrata.core.errors import NotFound, ValidationError
from datastrata.graph import algorithms, communities, dependencies, fraud, social
from datastrata.graph.examples import example_data, load_example
from datastrata.graph.schema import GraphSchema, NodeTable, RelTable, ladybug_ddl, neo4j_ddl
from datastrata.graph.store import GraphStore


def test_friends_of_friends(tmp_path: Path) -> None:
    store = social.open_social(tmp_path / "s")
    load_example(store, "social")
    assert social.friend_suggestions(store, "alice") == [
        social.FriendSuggestion("dave", ("bob", "carol")),
        social.FriendSuggestion("erin", ("carol",)),
    ]
    social.befriend(store, "erin", "alice")
    assert [s.person_id for s in social.friend_suggestions(store, "alice")] == ["dave"]
    assert social.key_people(store, limit=1)[0][0] == "dave"  # the bridge between the two friend circles


def test_fraud_rings_and_money_loops(tmp_path: Path) -> None:
    store = fraud.open_fraud(tmp_path / "f")
    load_example(store, "fraud")
    assert fraud.shared_device_rings(store) == [
        fraud.DeviceRing(("p1", "p2", "p3"), ("d1",), ("a1", "a2", "a3", "a7")),
        fraud.DeviceRing(("p5", "p6"), ("d4",), ("a5", "a6")),
    ]
    assert fraud.money_cycles(store) == [
        fraud.MoneyLoop(("a1", "a2", "a3"), "a1", True, Decimal("8600.00")),
        fraud.MoneyLoop(("a4", "a5", "a6"), "a4", True, Decimal("120.00")),
    ]
    assert fraud.money_cycles(store, max_hops=2) == []
    trips = fraud.round_trips(store)
    # a1 → a2 → a3 → a7 comes back to Ken's second account; a1 → a2 → a3 ends at a device-sharing partner.
    assert fraud.MoneyLoop(("a1", "a2", "a3", "a7"), "a7", False, Decimal("300.00")) in trips
    assert fraud.MoneyLoop(("a1", "a2", "a3"), "a3", False, Decimal("8800.00")) in trips
    assert all(t.accounts[0] not in {"a4", "a5"} for t in trips)  # p4 shares no device: not near a5/a6


def test_root_cause(tmp_path: Path) -> None:
    store = dependencies.open_dependencies(tmp_path / "d")
    load_example(store, "dependencies")
    assert dependencies.upstream(store, "checkout") == [
        ("Database", "orders-db", 1), ("Server", "srv-a", 1), ("Server", "srv-db", 2),
        ("Switch", "sw-1", 2), ("Switch", "sw-2", 3),
    ]  # fmt: skip
    top = dependencies.root_causes(store, ["checkout", "payments"])[0]
    assert (top.kind, top.id, top.failing, top.healthy) == ("Server", "srv-a", ("checkout", "payments"), ())
    top = dependencies.root_causes(store, ["checkout", "payments", "search"])[0]
    assert (top.kind, top.id, top.healthy) == ("Switch", "sw-1", ())
    # reports and checkout share only the database host and its switch: the switch is further upstream.
    ranked = dependencies.root_causes(store, ["reports", "checkout"])
    assert [(s.kind, s.id) for s in ranked[:2]] == [("Switch", "sw-2"), ("Server", "srv-db")]
    assert dependencies.impact(store, "srv-db") == ["checkout", "payments", "reports"]
    with pytest.raises(ValidationError, match="failing"):
        dependencies.root_causes(store, [])


def test_party_bridges_and_communities(tmp_path: Path) -> None:
    store = communities.open_party(tmp_path / "p")
    load_example(store, "party")
    links = communities.cross_links(store)
    # The seed: finance/law, master's/doctorate and high income pull P1 and P4 together across parties.
    assert links[0] == communities.CrossLink("P1", "P4", ("Edu2", "Inc2", "Job2"))
    assert links[1] == communities.CrossLink("P2", "P3", ("Edu1", "Inc1"))
    assert [b.trait for b in communities.bridge_traits(store)] == ["Edu1", "Edu2", "Inc1", "Inc2", "Job2"]
    assert communities.community_profiles(store) == [
        communities.CommunityProfile("PartyA", ("P1", "P2"), ("BeliefX",)),
        communities.CommunityProfile("PartyB", ("P3", "P4"), ("BeliefY",)),
    ]
    central = dict(communities.central_nodes(store, limit=20))
    assert central["Trait:Job2"] > central["Trait:Job1"] == 0.0  # a bridge trait carries paths, a private one none


def test_algorithms_on_a_small_graph() -> None:
    sub = algorithms.Subgraph.from_edges([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e")])
    assert algorithms.cycles(sub) == [["a", "b", "c"]]
    assert algorithms.bridge_nodes(sub) == ["c", "d"]
    assert algorithms.bridge_edges(sub) == [("c", "d"), ("d", "e")]
    assert algorithms.shortest_path(sub, "a", "e") == ["a", "b", "c", "d", "e"]
    assert algorithms.shortest_path(sub, "e", "a") == []
    assert algorithms.betweenness(sub)[0][0] == "c"
    assert algorithms.degree(sub)[0][0] == "c"
    assert algorithms.components(algorithms.Subgraph.from_edges([("a", "b")], nodes=["z"])) == [["a", "b"], ["z"]]
    with pytest.raises(NotFound, match="not in the exported subgraph"):
        algorithms.shortest_path(sub, "a", "nope")


def test_schema_ddl_and_store_checks(tmp_path: Path) -> None:
    schema = GraphSchema((NodeTable("P", (("n", "INT64"),)),), (RelTable("R", "P", "P", (("w", "DOUBLE"),)),))
    assert ladybug_ddl(schema) == [
        "CREATE NODE TABLE IF NOT EXISTS P(id STRING, n INT64, PRIMARY KEY(id))",
        "CREATE REL TABLE IF NOT EXISTS R(FROM P TO P, w DOUBLE)",
    ]
    assert neo4j_ddl(schema) == ["CREATE CONSTRAINT p_id IF NOT EXISTS FOR (n:P) REQUIRE n.id IS UNIQUE"]
    with pytest.raises(ValidationError, match="plain identifier"):
        NodeTable("P; DROP", ())
    with pytest.raises(ValidationError, match="type 'BLOB'"):
        NodeTable("P", (("x", "BLOB"),))
    store = GraphStore.open(tmp_path / "g", schema)
    assert store.upsert_nodes("P", [{"id": "a", "n": 1}, {"id": "b", "n": None}, {"id": "a", "n": 2}]) == 2
    assert store.query("MATCH (p:P) RETURN p.id AS id, p.n AS n ORDER BY id") == [
        {"id": "a", "n": 2},
        {"id": "b", "n": None},
    ]
    with pytest.raises(ValidationError, match="undeclared"):
        store.upsert_nodes("P", [{"id": "a", "colour": "red"}])
    with pytest.raises(ValidationError, match="not in the schema"):
        store.upsert_nodes("Q", [{"id": "a"}])
    with pytest.raises(NotFound, match="P:zz"):
        store.upsert_edges("R", [{"source": "a", "target": "zz", "w": 1.0}])
    assert store.count("P") == 2
    with pytest.raises(NotFound, match="example 'nope'"):
        example_data("nope")
    store.close()
