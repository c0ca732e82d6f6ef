"""Small example graphs shipped with the package (JSON): load one into a GraphStore with its schema."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from datastrata.core.errors import NotFound
from datastrata.graph.store import GraphStore

EXAMPLES = ("social", "fraud", "dependencies", "party")


def example_data(name: str) -> dict[str, Any]:
    """Return the raw example `name` ({"nodes": {label: [rows]}, "edges": {type: [rows]}})."""
    if name not in EXAMPLES:
        raise NotFound(f"example {name!r} does not exist; choose one of {list(EXAMPLES)}", field="name")
    text = resources.files("datastrata.graph.datasets").joinpath(f"{name}.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def load_example(store: GraphStore, name: str) -> None:
    """Upsert every node and edge of example `name` into `store` in one transaction."""
    data = example_data(name)
    with store.transaction() as tx:
        for label, rows in data["nodes"].items():
            store.upsert_nodes(label, rows, tx=tx)
        for rel_type, rows in data["edges"].items():
            store.upsert_edges(rel_type, rows, tx=tx)
