"""The LadybugDB adapter: URLs, idempotent schema, transactions, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from datastrata.core.errors import BackendUnavailable, ConfigurationError, NotFound, ValidationError
from datastrata.stores import graphfiles
from datastrata.stores.graphdb import GraphDatabase, ladybug_path, open_graph

DDL = ["CREATE NODE TABLE IF NOT EXISTS Thing(id STRING, n INT64, PRIMARY KEY(id))"]


def test_ladybug_urls() -> None:
    assert ladybug_path("ladybug:///rel/dir") == Path("rel/dir")
    assert ladybug_path("ladybug:////abs/dir") == Path("/abs/dir")
    assert ladybug_path("plain/path") == Path("plain/path")
    with pytest.raises(ConfigurationError, match="ladybug:///"):
        ladybug_path("sqlite:///x.db")
    with pytest.raises(ConfigurationError, match="names no path"):
        ladybug_path("ladybug:///")


def test_open_by_url_and_schema_is_idempotent(tmp_path: Path) -> None:
    with open_graph(f"ladybug:///{tmp_path}/g.lbdb") as db:
        db.ensure_schema(DDL)
        db.ensure_schema(DDL)
        assert db.tables() == {"Thing": "NODE"}
    with pytest.raises(ValidationError, match="IF NOT EXISTS"), open_graph(tmp_path / "h") as db2:
        db2.ensure_schema(["CREATE NODE TABLE X(id STRING, PRIMARY KEY(id))"])


def test_transaction_commits_or_rolls_back_everything(tmp_path: Path) -> None:
    with GraphDatabase(tmp_path / "g") as db:
        db.ensure_schema(DDL)
        with db.transaction() as tx:
            tx.execute("CREATE (:Thing {id: $id, n: $n})", {"id": "a", "n": 1})
        with pytest.raises(ValidationError, match="MERGE"), db.transaction() as tx:
            tx.execute("CREATE (:Thing {id: $id, n: $n})", {"id": "b", "n": 2})
            tx.execute("CREATE (:Thing {id: $id, n: $n})", {"id": "a", "n": 3})  # duplicate key
        with pytest.raises(RuntimeError, match="boom"), db.transaction() as tx:
            tx.execute("CREATE (:Thing {id: $id, n: $n})", {"id": "c", "n": 4})
            raise RuntimeError("boom")
        assert db.execute("MATCH (t:Thing) RETURN t.id ORDER BY t.id") == [("a",)]


def test_failed_transaction_refuses_more_statements(tmp_path: Path) -> None:
    with GraphDatabase(tmp_path / "g") as db:
        db.ensure_schema(DDL)
        db.execute("CREATE (:Thing {id: 'a', n: 1})")
        with pytest.raises(BackendUnavailable, match="rolled back"), db.transaction() as tx:
            with pytest.raises(ValidationError):
                tx.execute("CREATE (:Thing {id: 'a', n: 2})")
            tx.execute("CREATE (:Thing {id: 'z', n: 2})")  # would auto-commit outside the tx: refused
        assert db.execute("MATCH (t:Thing) RETURN count(t)") == [(1,)]


def test_errors_name_the_fix(tmp_path: Path) -> None:
    with GraphDatabase(tmp_path / "g") as db:
        with pytest.raises(NotFound, match="ensure_schema"):
            db.execute("MATCH (x:Missing) RETURN x")
        with pytest.raises(ValidationError, match="Cypher rejected"):
            db.execute("MATCH (x RETURN x")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(BackendUnavailable, match="cannot open LadybugDB"):
        GraphDatabase(blocker / "sub" / "g")


def test_a_graph_answers_from_the_generation_its_pointer_names_and_drops_stale_ones(tmp_path: Path) -> None:
    path = tmp_path / "g"
    first = open_graph(path)
    first.ensure_schema(["CREATE NODE TABLE IF NOT EXISTS K(id STRING, PRIMARY KEY(id))"])
    first.execute("CREATE (:K {id: 'old'})")
    second = first.beside(path.with_name("g.gen2"))  # same schema, another file
    second.execute("CREATE (:K {id: 'new'})")
    second.close()
    first.close()
    graphfiles.write_pointer(path, graphfiles.Pointer("g.gen2", None, 1))  # as a switch whose cleanup crashed
    reopened = open_graph(path)
    assert reopened.file == path.with_name("g.gen2") and reopened.read("MATCH (k:K) RETURN k.id") == [("new",)]
    assert not path.exists() and graphfiles.generations(path) == ["g.gen2"]  # the stale generation is gone
    reopened.close()


def test_the_writer_connection_is_renewed_and_keeps_its_settings(tmp_path: Path) -> None:
    """Every RENEW_WRITER_EVERY commits a fresh writer (LadybugDB frees a LOAD FROM's memory only on close)."""
    import pyarrow as pa

    from datastrata.stores.graphdb import RENEW_WRITER_EVERY

    with GraphDatabase(tmp_path / "g") as db:
        db.ensure_schema(DDL)
        db.disable_auto_checkpoint()
        first = db._gen.writer
        for k in range(2 * RENEW_WRITER_EVERY + 1):
            rows = pa.table({"new_id": pa.array([f"t{k}"], pa.string()), "new_n": pa.array([k], pa.int64())})
            with db.transaction() as tx:
                tx.execute("LOAD FROM $rows CREATE (:Thing {id: new_id, n: new_n})", {"rows": rows})
        assert db._gen.writer is not first
        assert db.execute("MATCH (t:Thing) RETURN count(t), sum(t.n)") == [
            (2 * RENEW_WRITER_EVERY + 1, sum(range(2 * RENEW_WRITER_EVERY + 1)))
        ]
        assert db.execute("CALL current_setting('auto_checkpoint') RETURN *") == [("False",)]
