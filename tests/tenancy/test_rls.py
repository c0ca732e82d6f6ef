"""Row-level security on PostgreSQL: the application role sees and writes only the tenant its transaction binds."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import NotFound
from datastrata.core.events import NewEvent
from datastrata.core.tenancy import platform, region, tenant
from datastrata.eventlog.log import EventLog
from datastrata.runtime import Runtime
from datastrata.runtime.roles import Roles, grant, restrict, restrictions, tenant_tables, unrestrict
from datastrata.stores.backup import backup, restore
from datastrata.stores.open import open_database
from datastrata.stores.tenanttables import GLOBAL_TABLES, is_global
from datastrata.systems.portfolio.service import PortfolioService
from datastrata.testing.servers import RoleUrls, create_database, create_roles

USER = "INSERT INTO food_users (tenant_id, user_id, lat, lon, registered_at) VALUES (%s, %s, 1, 2, now())"


def seed(owner: str) -> None:
    """Two tenants' users, written by the owner (whose policy admits every row)."""
    with psycopg.connect(owner) as conn:
        for tid, uid in (("acme", "a1"), ("acme", "a2"), ("globex", "g1")):
            conn.execute(USER, (tid, uid))


def test_the_app_role_with_no_tenant_bound_sees_nothing_and_cannot_write(app_role_pg: RoleUrls) -> None:
    seed(app_role_pg.owner)
    with psycopg.connect(app_role_pg.app, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM food_users").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM eventlog_events").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(USER, ("acme", "a3"))
        conn.execute("BEGIN")  # a local setting of an earlier transaction leaves '' behind, which matches nothing
        conn.execute("SELECT set_config('datastrata.tenant', 'acme', true)")
        conn.execute("COMMIT")
        assert conn.execute("SELECT current_setting('datastrata.tenant', true)").fetchone() == ("",)
        assert conn.execute("SELECT count(*) FROM food_users").fetchone() == (0,)
    with psycopg.connect(app_role_pg.owner) as conn:
        assert conn.execute("SELECT count(*) FROM food_users").fetchone() == (3,)  # nothing was written


def test_the_bound_tenant_sees_and_writes_only_its_own_rows(app_role_pg: RoleUrls) -> None:
    seed(app_role_pg.owner)
    with open_database(app_role_pg.app) as db:
        with tenant("acme"):
            with db.read() as tx:
                assert tx.query("SELECT user_id FROM food_users ORDER BY 1") == [("a1",), ("a2",)]
            with db.session() as tx:  # an autocommit session carries the binding too
                assert tx.scalar("SELECT count(*) FROM food_users") == 2
            with db.transaction() as tx:
                assert tx.execute("UPDATE food_users SET lat = 9").rowcount == 2  # not globex's row
                assert tx.execute("DELETE FROM food_users WHERE user_id = 'g1'").rowcount == 0
            with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction() as tx:
                tx.execute(
                    "INSERT INTO food_users (tenant_id, user_id, lat, lon, registered_at) "
                    "VALUES ('globex', 'g2', 1, 2, now())"
                )
            with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction() as tx:
                tx.execute("UPDATE food_users SET tenant_id = 'globex' WHERE user_id = 'a1'")
        with tenant("globex"), db.read() as tx:
            assert tx.query("SELECT user_id, lat FROM food_users") == [("g1", 1.0)]
        with db.read() as tx:  # nothing bound: nothing visible
            assert tx.scalar("SELECT count(*) FROM food_users") == 0
        with platform(), db.read() as tx:  # the platform binding: a follower sharing the app role sees every row
            assert tx.scalar("SELECT count(*) FROM food_users") == 3


def test_the_platform_role_and_the_owner_see_every_tenant(app_role_pg: RoleUrls) -> None:
    seed(app_role_pg.owner)
    for url in (app_role_pg.platform, app_role_pg.owner):
        with open_database(url) as db, tenant("acme"), db.read() as tx:
            assert tx.scalar("SELECT count(*) FROM food_users") == 3


def test_events_of_another_tenant_are_invisible_to_the_log_as_the_app_role(app_role_pg: RoleUrls) -> None:
    with open_database(app_role_pg.app) as db:
        log = EventLog(db)
        for tid in ("acme", "globex"):
            with tenant(tid):
                log.append(f"s-{tid}", [NewEvent("Happened", {"by": tid})])
        with tenant("acme"):
            assert [e.payload["by"] for e in log.read_page(after=0, limit=10).events] == ["acme"]
            assert log.read("s-globex") == []
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # no tenant bound: the append is refused
            log.append("s-none", [NewEvent("Happened", {})])


def test_every_tenant_table_has_forced_rls_and_the_global_ones_have_none(app_role_pg: RoleUrls) -> None:
    with psycopg.connect(app_role_pg.owner) as conn:
        rows = conn.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "(SELECT array_agg(policyname::text ORDER BY policyname) FROM pg_policies p WHERE p.tablename = c.relname) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r'"
        ).fetchall()
        with_tenant = {
            str(t)
            for (t,) in conn.execute(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
                "AND column_name = 'tenant_id'"
            )
        }
    secured = {
        str(name)
        for name, enabled, forced, policies in rows
        if enabled and forced and {"ds_platform", "ds_tenant"} <= set(policies or ())
    }
    assert {"eventlog_events", "food_users", "master_data_current", "match_goals", "mlops_models"} <= secured
    assert secured == {t for t in with_tenant if not is_global(t)}
    assert not any(enabled for name, enabled, _, _ in rows if is_global(str(name)))
    assert "security_api_keys" in with_tenant and "security_api_keys" not in secured  # authentication precedes it
    assert "jobs" in GLOBAL_TABLES


def test_a_restrictive_policy_registered_by_another_package_applies_to_every_role(app_role_pg: RoleUrls) -> None:
    roles = app_role_pg
    with psycopg.connect(roles.owner, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (tenant_id TEXT NOT NULL, body TEXT NOT NULL, regions TEXT NOT NULL)")
        conn.execute(
            "INSERT INTO notes VALUES ('acme', 'everywhere', ''), ('acme', 'eu only', 'eu'), ('globex', 'theirs', '')"
        )
    restrict(
        "notes",
        "ds_test_region",
        "regions = '' OR regions = current_setting('datastrata.region', true) "
        "OR current_setting('datastrata.region', true) = '*'",
    )
    try:
        with open_database(roles.owner) as db:
            grant(db, Roles(roles.app_role, roles.platform_role))
            with db.read() as tx:
                assert "notes" in tenant_tables(tx, "public")
                assert tx.scalar("SELECT permissive FROM pg_policies WHERE policyname = 'ds_test_region'") == (
                    "RESTRICTIVE"
                )
        with open_database(roles.app) as db, tenant("acme"):
            with region("us"), db.read() as tx:
                assert tx.query("SELECT body FROM notes ORDER BY 1") == [("everywhere",)]
            with region("eu"), db.read() as tx:
                assert tx.query("SELECT body FROM notes ORDER BY 1") == [("eu only",), ("everywhere",)]
        with open_database(roles.platform) as db, platform(), db.read() as tx:  # the platform binds region '*'
            assert tx.scalar("SELECT count(*) FROM notes") == 3
    finally:
        assert "ds_test_region" in restrictions()["notes"]
        unrestrict("notes", "ds_test_region")
    assert "notes" not in restrictions()


def test_commands_run_as_the_app_role_for_each_tenant_and_followers_as_the_platform(app_role_pg: RoleUrls) -> None:
    settings = Settings(store=app_role_pg.app, platform_store=app_role_pg.platform)
    with Runtime.open(settings) as runtime:
        svc = PortfolioService(runtime)
        for tid, cash in (("acme", "1000"), ("globex", "50")):  # the same stream id awaits the tenant-keyed log
            with tenant(tid):
                svc.deposit(f"P-{tid}", cash)
        while runtime.run_once():
            pass
        with tenant("acme"):
            assert svc.state("P-acme").cash == Decimal("1000")
            with pytest.raises(NotFound):  # another tenant's stream reads as empty
                svc.state("P-globex")
        with tenant("globex"):
            assert svc.state("P-globex").cash == Decimal("50")
        with psycopg.connect(app_role_pg.owner) as conn:
            assert conn.execute("SELECT count(*) FROM eventlog_events").fetchone() == (2,)


def test_backup_and_restore_of_an_rls_store_keep_every_tenant_and_the_policies(
    app_role_pg: RoleUrls, pg_server: str, tmp_path: Path
) -> None:
    seed(app_role_pg.owner)
    backup(app_role_pg.owner, tmp_path / "bk")
    name = app_role_pg.owner.rsplit("/", 1)[1] + "_restored"
    create_database(pg_server, name)
    again = create_roles(pg_server, name, prefix="dsrls")
    restore(again.owner, tmp_path / "bk")
    with psycopg.connect(again.owner) as conn:
        assert conn.execute("SELECT count(*) FROM food_users").fetchone() == (3,)
    with open_database(again.app) as db:
        with tenant("globex"), db.read() as tx:
            assert tx.query("SELECT user_id FROM food_users") == [("g1",)]
        with db.read() as tx:
            assert tx.scalar("SELECT count(*) FROM food_users") == 0


def test_a_failed_statement_in_a_bound_session_rolls_back_and_the_connection_serves_on(app_role_pg: RoleUrls) -> None:
    from datastrata.core.errors import ConcurrencyConflict

    with open_database(app_role_pg.app) as db:
        log = EventLog(db)
        with tenant("acme"):
            log.append("s-1", [NewEvent("Happened", {"n": 1})])
            with pytest.raises(ConcurrencyConflict):
                log.append("s-1", [NewEvent("Happened", {"n": 2})], expected_version=0)
            with pytest.raises(psycopg.errors.InsufficientPrivilege), db.session() as tx:
                tx.execute("SELECT 1")
                tx.execute(USER.replace("%s", "?"), ("globex", "g1"))
            log.append("s-1", [NewEvent("Happened", {"n": 3})], expected_version=1)
            assert [e.payload["n"] for e in log.read("s-1")] == [1, 3]
            with db.session() as tx:
                assert tx.scalar("SELECT count(*) FROM food_users") == 0
