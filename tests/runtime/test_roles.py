"""Roles on PostgreSQL: the owner migrates and owns; the application and platform roles have DML only."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from typer.testing import CliRunner

from datastrata.cli import app
from datastrata.core.config import Settings
from datastrata.core.errors import ConfigurationError
from datastrata.runtime import Runtime
from datastrata.runtime.jobs import jobs_of, rebuild_work
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.migrations import migrate_location
from datastrata.runtime.placement import HOME
from datastrata.runtime.roles import Roles
from datastrata.systems.portfolio.service import PortfolioService
from datastrata.testing.servers import RoleUrls, create_database, create_roles

P = "user1-portfolio-A"


@pytest.fixture
def roles(pg_server: str, bare_pg_url: str) -> RoleUrls:
    """A bare database owned by its owner role, with application and platform roles that may only connect."""
    return create_roles(pg_server, bare_pg_url.rsplit("/", 1)[1], prefix="rolestest")


def refused(url: str, sql: str) -> str:
    """Run `sql` as the role of `url` and return PostgreSQL's refusal."""
    with psycopg.connect(url, autocommit=True) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
        conn.execute(sql.encode())
    return str(caught.value)


def test_the_application_role_serves_commands_and_queries_but_cannot_change_the_schema(roles: RoleUrls) -> None:
    env = {"DATASTRATA_APP_ROLE": roles.app_role, "DATASTRATA_PLATFORM_ROLE": roles.platform_role}
    done = CliRunner().invoke(app, ["--store", roles.app, "migrate", "--owner-url", roles.owner], env=env)
    assert done.exit_code == 0, done.stderr
    with Runtime.open(Settings(store=roles.app)) as runtime:
        svc = PortfolioService(runtime)
        svc.deposit(P, "1000")
        svc.buy(P, "AAPL", "2", "100")
        assert svc.state(P).cash == Decimal("800")
        assert svc.holders("AAPL") == [{"portfolio_id": P, "quantity": "2"}]
    assert "permission denied for schema public" in refused(roles.app, "CREATE TABLE intruder (id INT)")
    assert "must be owner" in refused(roles.app, "DROP TABLE portfolio_holdings")
    assert "permission denied" in refused(roles.app, "UPDATE eventlog_events SET payload = '{}'")  # append-only
    assert "permission denied" in refused(roles.app, "DELETE FROM schema_migrations")
    assert "permission denied" in refused(roles.platform, "CREATE TABLE intruder (id INT)")
    with psycopg.connect(roles.owner) as conn:
        owners = {
            str(o) for (o,) in conn.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
        }
        assert owners == {"rolestest_owner"}
    with psycopg.connect(roles.platform) as conn:  # followers read every event and move their checkpoints
        assert conn.execute("SELECT count(*) FROM eventlog_events").fetchone() == (2,)
        conn.execute("UPDATE projection_checkpoints SET position = position")
    again = CliRunner().invoke(app, ["--store", roles.app, "migrate", "--owner-url", roles.owner, "--json"], env=env)
    assert again.exit_code == 0 and '"migrations": []' in again.stdout


def test_the_application_role_cannot_run_migrations(roles: RoleUrls) -> None:
    result = CliRunner().invoke(app, ["--store", roles.app, "migrate"])
    assert result.exit_code == 2 and "permission denied" in result.stderr and "--owner-url" in result.stderr


def test_a_role_that_could_bypass_row_level_security_is_refused(pg_server: str, roles: RoleUrls) -> None:
    spec = LocationSpec(HOME, roles.owner, "", "")
    with pytest.raises(ConfigurationError, match="superuser or has BYPASSRLS"):
        migrate_location(spec, [], roles=Roles(app="postgres"))
    with pytest.raises(ConfigurationError, match="role 'nobody_here' does not exist"):
        migrate_location(spec, [], roles=Roles(app="nobody_here"))


def test_role_names_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="role name"):
        Roles(app='x"; DROP TABLE y; --')


def test_the_helper_reuses_roles_that_exist(pg_server: str) -> None:
    first = create_roles(pg_server, create_database(pg_server, "roles_a").rsplit("/", 1)[1], prefix="reuse")
    second = create_roles(pg_server, create_database(pg_server, "roles_b").rsplit("/", 1)[1], prefix="reuse")
    assert first.app_role == second.app_role and first.app != second.app


def test_followers_and_jobs_connect_as_the_platform_role(roles: RoleUrls) -> None:
    env = {"DATASTRATA_APP_ROLE": roles.app_role, "DATASTRATA_PLATFORM_ROLE": roles.platform_role}
    done = CliRunner().invoke(app, ["--store", roles.app, "migrate", "--owner-url", roles.owner], env=env)
    assert done.exit_code == 0, done.stderr
    with psycopg.connect(roles.owner, autocommit=True) as conn:  # the app role may only read what followers write
        for table in ("projection_checkpoints", "portfolio_holdings", "jobs"):
            conn.execute(f"REVOKE INSERT, UPDATE, DELETE ON {table} FROM {roles.app_role}".encode())
    with Runtime.open(Settings(store=roles.app, platform_store=roles.platform)) as runtime:
        assert runtime.platform is not runtime.home
        svc = PortfolioService(runtime)
        svc.deposit(P, "1000")
        svc.buy(P, "AAPL", "2", "100")
        while runtime.run_once():  # the worker's rounds: projections, relay, bus, jobs
            pass
        assert svc.holders("AAPL", after=runtime.log.head()) == [{"portfolio_id": P, "quantity": "2"}]
        job = jobs_of(runtime).run(
            jobs_of(runtime).create("rebuild", "portfolio.holders"), rebuild_work(runtime, "portfolio.holders")
        )
        assert job.state == "succeeded", job.error
        assert svc.holders("AAPL", after=runtime.log.head()) == [{"portfolio_id": P, "quantity": "2"}]
        with psycopg.connect(roles.owner) as conn:
            users = {str(u) for (u,) in conn.execute("SELECT usename FROM pg_stat_activity WHERE usename IS NOT NULL")}
        assert {roles.app_role, roles.platform_role} <= users
    with Runtime.open(Settings(store=roles.app)) as runtime:  # followers on the app role: now refused
        PortfolioService(runtime)
        runtime.run_once()
        halted = [s for s in runtime.statuses(fresh=True) if s.name == "portfolio.holders"]
        assert halted and halted[0].last_error is not None and "permission denied" in halted[0].last_error
    assert "permission denied for schema public" in refused(roles.app, "CREATE TABLE intruder (id INT)")
    assert "permission denied for schema public" in refused(roles.platform, "CREATE TABLE intruder (id INT)")
