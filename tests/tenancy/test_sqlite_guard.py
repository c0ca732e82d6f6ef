"""The SQLite tenant guard: triggers refuse another tenant's rows, the authorizer check refuses unfiltered reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from datastrata.core.errors import ConfigurationError, TenantIsolationError
from datastrata.core.tenancy import platform, tenant
from datastrata.stores.open import open_database
from datastrata.stores.sqlite import SqliteDatabase
from datastrata.systems.food.schema import MIGRATIONS as FOOD

USER = "INSERT INTO food_users (tenant_id, user_id, lat, lon, registered_at) VALUES (?, ?, 1, 2, '2026-01-01')"


@pytest.fixture
def guarded(tmp_path: Path) -> SqliteDatabase:
    """A guarded SQLite store with the food tables and two tenants' users (written as the platform)."""
    db = open_database(f"sqlite:///{tmp_path / 'g.db'}?tenant_guard=on")
    assert isinstance(db, SqliteDatabase)
    db.ensure(FOOD)
    with platform(), db.transaction() as tx:
        tx.executemany(USER, [("acme", "a1"), ("acme", "a2"), ("globex", "g1")])
    return db


def test_reads_must_filter_on_the_bound_tenant(guarded: SqliteDatabase) -> None:
    with tenant("acme"), guarded.read() as tx:
        assert tx.query("SELECT user_id FROM food_users WHERE tenant_id = ? ORDER BY 1", ("acme",)) == [
            ("a1",),
            ("a2",),
        ]
        with pytest.raises(TenantIsolationError, match="reads food_users without filtering on tenant_id"):
            tx.query("SELECT count(*) FROM food_users")
        with pytest.raises(TenantIsolationError, match="do not name tenant 'acme'"):
            tx.query("SELECT count(*) FROM food_users WHERE tenant_id = ?", ("globex",))
    with guarded.read() as tx, pytest.raises(TenantIsolationError, match="no tenant is bound"):
        tx.query("SELECT count(*) FROM food_users WHERE tenant_id = ?", ("acme",))
    with tenant("acme"), guarded.session() as tx:  # the memoised check holds for a statement seen before
        for _ in range(3):
            with pytest.raises(TenantIsolationError):
                tx.query("SELECT count(*) FROM food_users")
    with platform(), guarded.read() as tx:  # the platform reads every tenant
        assert tx.scalar("SELECT count(*) FROM food_users") == 3
    with tenant("acme"), guarded.read() as tx:  # global tables are not guarded
        assert tx.scalar("SELECT count(*) FROM schema_migrations") >= 1


def test_writes_of_another_tenant_s_rows_are_refused_and_nothing_is_written(guarded: SqliteDatabase) -> None:
    with tenant("acme"):
        refusal = "a write to food_users of a row of another tenant"
        with pytest.raises(TenantIsolationError, match=refusal), guarded.transaction() as tx:
            tx.execute(USER, ("acme", "a3"))
            tx.execute(USER, ("globex", "g2"))
        with pytest.raises(TenantIsolationError), guarded.transaction() as tx:
            tx.execute("UPDATE food_users SET lat = 9 WHERE user_id = ? AND tenant_id IN (?, 'globex')", ("g1", "acme"))
        with pytest.raises(TenantIsolationError), guarded.transaction() as tx:
            tx.execute("UPDATE food_users SET tenant_id = 'globex' WHERE tenant_id = ? AND user_id = 'a1'", ("acme",))
        with pytest.raises(TenantIsolationError), guarded.transaction() as tx:
            tx.executemany("DELETE FROM food_users WHERE tenant_id = ? AND user_id = ?", [("acme", "a1")])
            tx.execute("DELETE FROM food_users WHERE user_id = ? AND tenant_id <> ?", ("g1", "acme"))
        with guarded.transaction() as tx:
            tx.execute("UPDATE food_users SET lat = 5 WHERE tenant_id = ?", ("acme",))
    with guarded.transaction() as tx, pytest.raises(TenantIsolationError):  # nothing bound: no write at all
        tx.execute(USER, ("acme", "a4"))
    with platform(), guarded.read() as tx:
        assert tx.query("SELECT tenant_id, user_id, lat FROM food_users ORDER BY 2") == [
            ("acme", "a1", 5.0),
            ("acme", "a2", 5.0),
            ("globex", "g1", 1.0),
        ]


def test_a_table_created_later_is_guarded_too(guarded: SqliteDatabase) -> None:
    with platform(), guarded.transaction() as tx:
        tx.execute("CREATE TABLE later (tenant_id TEXT NOT NULL, x INT)")
    with tenant("acme"), guarded.transaction() as tx, pytest.raises(TenantIsolationError):
        tx.execute("INSERT INTO later VALUES ('globex', 1)")
    with tenant("acme"), guarded.read() as tx, pytest.raises(TenantIsolationError):
        tx.query("SELECT x FROM later")


def test_the_guard_is_off_unless_asked_for_and_a_bad_flag_is_named(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'plain.db'}")
    db.ensure(FOOD)
    with db.transaction() as tx:
        tx.execute(USER, ("globex", "g1"))
        assert tx.scalar("SELECT count(*) FROM food_users") == 1
    with pytest.raises(ConfigurationError, match="tenant_guard='maybe'"):
        open_database(f"sqlite:///{tmp_path / 'x.db'}?tenant_guard=maybe")


def test_guard_tenants_turns_the_guard_on_for_connections_already_open(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'later.db'}")
    assert isinstance(db, SqliteDatabase) and db.guard is None
    db.ensure(FOOD)
    with tenant("acme"), db.transaction() as tx:
        tx.execute(USER, ("acme", "a1"))
    db.guard_tenants()  # what a store does once its directory holds several tenants
    with tenant("globex"), db.read() as tx, pytest.raises(TenantIsolationError):
        tx.query("SELECT user_id FROM food_users WHERE user_id = ?", ("a1",))
    with tenant("globex"), db.transaction() as tx, pytest.raises(TenantIsolationError):
        tx.execute("DELETE FROM food_users WHERE tenant_id = 'acme'")
    with tenant("acme"), db.read() as tx:
        assert tx.query("SELECT user_id FROM food_users WHERE tenant_id = ?", ("acme",)) == [("a1",)]
