"""Graph algorithms in rustworkx on a subgraph exported from the store: centrality, bridges, cycles, paths."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import rustworkx as rx

from datastrata.core.errors import NotFound


@dataclass
class Subgraph:
    """An in-memory copy of part of the graph: node keys ↔ rustworkx indices, directed or not."""

    directed: bool = True
    graph: Any = field(init=False)
    index: dict[Hashable, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.graph = rx.PyDiGraph(multigraph=False) if self.directed else rx.PyGraph(multigraph=False)

    @classmethod
    def from_edges(
        cls, edges: Iterable[tuple[Hashable, Hashable]], *, directed: bool = True, nodes: Iterable[Hashable] = ()
    ) -> Subgraph:
        """Build a subgraph from (source, target) key pairs (plus isolated `nodes`)."""
        sub = cls(directed=directed)
        for node in nodes:
            sub.add_node(node)
        for source, target in edges:
            sub.add_edge(source, target)
        return sub

    def add_node(self, key: Hashable) -> int:
        """Add a node by key (once) and return its index."""
        if key not in self.index:
            self.index[key] = self.graph.add_node(key)
        return self.index[key]

    def add_edge(self, source: Hashable, target: Hashable, weight: float = 1.0) -> None:
        """Add an edge between two keys, creating the nodes as needed."""
        self.graph.add_edge(self.add_node(source), self.add_node(target), weight)

    def key(self, index: int) -> Hashable:
        """Return the node key stored at `index`."""
        key: Hashable = self.graph[index]
        return key

    def node(self, key: Hashable) -> int:
        """Return the index of `key`, raising NotFound if it is not in the subgraph."""
        try:
            return self.index[key]
        except KeyError:
            raise NotFound(f"node {key!r} is not in the exported subgraph; check the id or export more edges") from None


def _ranked(sub: Subgraph, scores: Any) -> list[tuple[Hashable, float]]:
    pairs = [(sub.key(i), float(v)) for i, v in scores.items()]
    return sorted(pairs, key=lambda kv: (-kv[1], str(kv[0])))


def betweenness(sub: Subgraph, *, normalized: bool = True) -> list[tuple[Hashable, float]]:
    """Return nodes by betweenness centrality (how many shortest paths pass through them), highest first."""
    return _ranked(sub, rx.betweenness_centrality(sub.graph, normalized=normalized))


def degree(sub: Subgraph) -> list[tuple[Hashable, float]]:
    """Return nodes by degree centrality (share of other nodes they touch), highest first."""
    return _ranked(sub, rx.degree_centrality(sub.graph))


def bridge_nodes(sub: Subgraph) -> list[Hashable]:
    """Return the articulation points of an undirected subgraph: nodes whose removal disconnects it."""
    undirected = sub.graph.to_undirected(multigraph=False) if sub.directed else sub.graph
    return sorted((sub.key(i) for i in rx.articulation_points(undirected)), key=str)


def bridge_edges(sub: Subgraph) -> list[tuple[Hashable, Hashable]]:
    """Return the bridges of an undirected subgraph: edges whose removal disconnects it."""
    undirected = sub.graph.to_undirected(multigraph=False) if sub.directed else sub.graph
    found: list[tuple[Hashable, Hashable]] = []
    bridges: Iterable[Sequence[int]] = rx.bridges(undirected)  # stubs declare 1-tuples; each bridge is (a, b)
    for edge in bridges:
        ends = sorted((sub.key(edge[0]), sub.key(edge[1])), key=str)
        found.append((ends[0], ends[1]))
    return sorted(found, key=lambda e: (str(e[0]), str(e[1])))


def cycles(sub: Subgraph, *, max_length: int | None = None) -> list[list[Hashable]]:
    """Return the simple directed cycles (each rotated to start at its smallest key), shortest first."""
    if not sub.directed:
        raise NotFound("cycles() needs a directed subgraph; export it with directed=True")
    found = []
    for cycle in rx.simple_cycles(sub.graph):
        keys = [sub.key(i) for i in cycle]
        if max_length is not None and len(keys) > max_length:
            continue
        start = min(range(len(keys)), key=lambda i: str(keys[i]))
        found.append(keys[start:] + keys[:start])
    return sorted(found, key=lambda c: (len(c), [str(k) for k in c]))


def shortest_path(sub: Subgraph, source: Hashable, target: Hashable) -> list[Hashable]:
    """Return one shortest (fewest hops) path from `source` to `target`, or [] if none exists."""
    a, b = sub.node(source), sub.node(target)
    paths = rx.dijkstra_shortest_paths(sub.graph, a, target=b, default_weight=1.0)
    return [sub.key(i) for i in paths[b]] if b in paths else []


def components(sub: Subgraph) -> list[list[Hashable]]:
    """Return the (weakly) connected components, largest first, each sorted by key."""
    undirected = sub.graph.to_undirected(multigraph=False) if sub.directed else sub.graph
    groups = [sorted((sub.key(i) for i in comp), key=str) for comp in rx.connected_components(undirected)]
    return sorted(groups, key=lambda g: (-len(g), [str(k) for k in g]))
