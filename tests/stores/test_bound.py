"""BoundDatabase: one shared pool, each transaction in its own namespace; ensure per namespace; the pool stays open."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from datastrata.core.tenancy import Namespace, bound
from datastrata.stores.bound import BoundDatabase
from datastrata.stores.database import Database, Dialect
from datastrata.stores.migrations import Component, migrate
from datastrata.stores.open import open_database


def _ddl(dialect: Dialect) -> str:
    return "CREATE TABLE IF NOT EXISTS bound_probe (name TEXT PRIMARY KEY);"


PROBE = Component.baseline("test.bound_probe", _ddl)


@pytest.fixture
def shared(pg_url: str) -> Iterator[Database]:
    db = open_database(pg_url)
    with db.transaction() as tx:
        tx.run_script('CREATE SCHEMA "ns_a"; CREATE SCHEMA "ns_b";')
    yield db
    db.close()


def test_each_bound_database_works_in_its_own_schema_over_one_pool(shared: Database) -> None:
    a, b = BoundDatabase(shared, Namespace("ns_a")), BoundDatabase(shared, Namespace("ns_b"))
    migrate(a, [PROBE])
    assert PROBE.name not in b.ensured, "ensure is tracked per namespace"
    with pytest.raises(Exception, match="pending migrations"):
        b.ensure(PROBE)  # PostgreSQL refuses: ns_b was never migrated
    migrate(b, [PROBE])
    with a.transaction() as tx:
        tx.execute("INSERT INTO bound_probe (name) VALUES ('in a')")
        assert bound().namespace == Namespace("ns_a")
    with b.session() as tx:  # a session is a transaction too: the setting is local to it
        assert tx.query("SELECT name FROM bound_probe") == []
        assert tx.scalar("SELECT current_schema()") == "ns_b"
    with a.read() as tx:
        assert tx.query("SELECT name FROM bound_probe") == [("in a",)]
    with shared.read() as tx:  # the pool itself is not left bound: no session-level SET
        assert tx.scalar("SELECT current_schema()") == "public"
        assert tx.scalar("SELECT to_regclass('bound_probe')") is None
    assert bound().namespace is None
    a.close()
    with shared.read() as tx:
        assert tx.scalar("SELECT 1") == 1, "closing a bound database leaves the shared pool open"
