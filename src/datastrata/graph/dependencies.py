"""IT dependencies: which shared upstream component (server, switch, database) explains failing applications."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datastrata.core.errors import ValidationError
from datastrata.graph.schema import GraphSchema, NodeTable, RelTable
from datastrata.graph.store import GraphStore

DEPENDENCY_SCHEMA = GraphSchema(
    nodes=(NodeTable("Application"), NodeTable("Server"), NodeTable("Switch"), NodeTable("Database")),
    rels=(
        RelTable("RUNS_ON", "Application", "Server"),
        RelTable("CONNECTED_TO", "Server", "Switch"),
        RelTable("USES", "Application", "Database"),
        RelTable("DEPENDS_ON", "Database", "Server"),
    ),
)

# Every way an application depends on an upstream component, with the component's kind and hop count.
_UPSTREAM = """
MATCH (a:Application)-[:RUNS_ON]->(c:Server) WHERE {where}
RETURN 'Server' AS kind, c.id AS id, 1 AS hops, a.id AS app
UNION ALL
MATCH (a:Application)-[:RUNS_ON]->(:Server)-[:CONNECTED_TO]->(c:Switch) WHERE {where}
RETURN 'Switch' AS kind, c.id AS id, 2 AS hops, a.id AS app
UNION ALL
MATCH (a:Application)-[:USES]->(c:Database) WHERE {where}
RETURN 'Database' AS kind, c.id AS id, 1 AS hops, a.id AS app
UNION ALL
MATCH (a:Application)-[:USES]->(:Database)-[:DEPENDS_ON]->(c:Server) WHERE {where}
RETURN 'Server' AS kind, c.id AS id, 2 AS hops, a.id AS app
UNION ALL
MATCH (a:Application)-[:USES]->(:Database)-[:DEPENDS_ON]->(:Server)-[:CONNECTED_TO]->(c:Switch) WHERE {where}
RETURN 'Switch' AS kind, c.id AS id, 3 AS hops, a.id AS app
"""


@dataclass(frozen=True, slots=True)
class Suspect:
    """An upstream component, the failing applications it explains and the healthy ones that also use it."""

    kind: str
    id: str
    failing: tuple[str, ...]
    healthy: tuple[str, ...]
    hops: int


def open_dependencies(url: str | Path) -> GraphStore:
    """Open (creating if missing) a dependency graph (Application, Server, Switch, Database)."""
    return GraphStore.open(url, DEPENDENCY_SCHEMA)


def upstream(store: GraphStore, application_id: str) -> list[tuple[str, str, int]]:
    """Return every component `application_id` depends on as (kind, id, hops), nearest first."""
    rows = store.rows(_UPSTREAM.format(where="a.id = $app_id"), {"app_id": application_id})
    best: dict[tuple[str, str], int] = {}
    for kind, cid, hops, _ in rows:
        key = (str(kind), str(cid))
        best[key] = min(int(hops), best.get(key, int(hops)))
    return sorted(((k, c, h) for (k, c), h in best.items()), key=lambda t: (t[2], t[0], t[1]))


def root_causes(store: GraphStore, failing: list[str], *, limit: int = 5) -> list[Suspect]:
    """Rank shared upstream components of the failing applications: most failing explained, fewest healthy users.

    A component every failing application depends on, and no healthy one does, is the likeliest root cause;
    ties go to the component furthest upstream (a switch explains its servers' failures), then by kind and id.
    """
    if not failing:
        raise ValidationError("failing is empty; name at least one failing application id", field="failing")
    suspects: dict[tuple[str, str], tuple[set[str], int]] = {}
    for kind, cid, hops, app in store.rows(_UPSTREAM.format(where="a.id IN $apps"), {"apps": failing}):
        apps, depth = suspects.setdefault((str(kind), str(cid)), (set(), int(hops)))
        apps.add(str(app))
        suspects[(str(kind), str(cid))] = (apps, max(depth, int(hops)))
    if not suspects:
        return []
    users: dict[tuple[str, str], set[str]] = {}
    for kind, cid, _, app in store.rows(_UPSTREAM.format(where="true")):
        key = (str(kind), str(cid))
        if key in suspects:
            users.setdefault(key, set()).add(str(app))
    failing_set = set(failing)
    ranked = [
        Suspect(kind, cid, tuple(sorted(apps)), tuple(sorted(users.get((kind, cid), set()) - failing_set)), hops)
        for (kind, cid), (apps, hops) in suspects.items()
    ]
    ranked.sort(key=lambda s: (-len(s.failing), len(s.healthy), -s.hops, s.kind, s.id))
    return ranked[:limit]


def impact(store: GraphStore, component_id: str) -> list[str]:
    """Return the applications that depend (directly or not) on the component `component_id`."""
    rows = store.rows(_UPSTREAM.format(where="true"))
    return sorted({str(app) for _, cid, _, app in rows if cid == component_id})
