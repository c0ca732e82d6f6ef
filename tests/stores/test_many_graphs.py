"""Many graphs in one process: each reserves a bounded address space and a small buffer pool (one per tenant)."""

from __future__ import annotations

from pathlib import Path

from datastrata.stores.graphdb import GraphDatabase, open_graph

GRAPHS = 20


def test_twenty_graphs_stay_open_at_once_each_with_its_own_data(tmp_path: Path) -> None:
    opened: list[GraphDatabase] = []
    try:
        for n in range(GRAPHS):
            db = open_graph(tmp_path / f"t{n}" / "graph.lbug", max_db_size=1 << 30, buffer_pool_bytes=16 << 20)
            db.ensure_schema(["CREATE NODE TABLE IF NOT EXISTS Tenant(id STRING PRIMARY KEY, n INT64)"])
            with db.transaction() as tx:
                tx.execute("CREATE (:Tenant {id: $id, n: $n})", {"id": f"t{n}", "n": n})
            opened.append(db)
        # All twenty are open together, and each answers with its own node only.
        assert [db.read("MATCH (t:Tenant) RETURN t.id, t.n") for db in opened] == [
            [(f"t{n}", n)] for n in range(GRAPHS)
        ]
    finally:
        for db in opened:
            db.close()
