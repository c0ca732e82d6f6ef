"""Graph model: node labels and edge types with properties, uniqueness constraints and traversal queries."""

from __future__ import annotations

from datastrata.design.choices import ContextSelection
from datastrata.design.naming import entity_attributes, entity_key, pascal, snake, upper_snake


def graph_design(selection: ContextSelection) -> dict[str, object]:
    """Nodes from entities (and relationship endpoints), edges from relationships, Cypher for each traversal."""
    context = selection.profile.context
    nodes: dict[str, dict[str, object]] = {}
    for entity in context.entities:
        nodes[entity.name] = {
            "label": pascal(entity.name),
            "key": entity_key(entity.name, entity.key, entity.attributes),
            "properties": [attr.name for attr in entity_attributes(entity.attributes)],
        }
    edges: list[dict[str, object]] = []
    for rel in context.relationships:
        for endpoint in (rel.from_, rel.to):
            nodes.setdefault(
                endpoint,
                {"label": pascal(endpoint), "key": f"{snake(endpoint)}_id", "properties": [f"{snake(endpoint)}_id"]},
            )
        edges.append(
            {
                "type": upper_snake(rel.verb),
                "from": pascal(rel.from_),
                "to": pascal(rel.to),
                "cardinality": rel.cardinality,
                "properties": [attr.name for attr in entity_attributes(rel.properties)],
            }
        )
    constraints = [
        f"CREATE CONSTRAINT {snake(str(node['label']))}_key IF NOT EXISTS "
        f"FOR (n:{node['label']}) REQUIRE n.{node['key']} IS UNIQUE"
        for node in nodes.values()
    ]
    queries: list[dict[str, str]] = []
    for op in selection.profile.with_pattern("graph-traversal"):
        start = pascal(op.entity.name)
        edge = next((e for e in edges if e["from"] == start), None)
        if edge is None:
            continue
        key = op.operation.by[0].lower() if op.operation.by else str(nodes[op.entity.name]["key"])
        kind, target = edge["type"], edge["to"]
        queries.append(
            {
                "operation": op.operation.name,
                "cypher": (
                    f"MATCH (me:{start} {{{key}: ${key}}})-[:{kind}]->(x:{target})<-[:{kind}]-(peer:{start})"
                    f"-[:{kind}]->(candidate:{target}) "
                    f"WHERE NOT (me)-[:{kind}]->(candidate) "
                    "RETURN candidate, count(DISTINCT peer) AS score ORDER BY score DESC LIMIT 10"
                ),
            }
        )
    return {"nodes": list(nodes.values()), "edges": edges, "constraints": constraints, "queries": queries}
