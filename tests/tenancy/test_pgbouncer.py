"""Through PgBouncer in transaction pooling: no setting survives a transaction, no prepared statement is needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import ConfigurationError
from datastrata.core.tenancy import tenant
from datastrata.eventlog.subscriptions import waiter_for
from datastrata.runtime import Runtime
from datastrata.stores.open import open_database
from datastrata.stores.postgres import PostgresDatabase
from datastrata.systems.fab.domain import Reading
from datastrata.systems.fab.service import FabService
from datastrata.systems.food.service import FoodService
from datastrata.systems.masterdata.service import MasterDataService
from datastrata.systems.match.service import MatchService
from datastrata.systems.mlops.service import MlopsService
from datastrata.systems.portfolio.service import PortfolioService
from datastrata.testing.servers import RoleUrls
from tests.conftest import through_pooler

USER = "INSERT INTO food_users (tenant_id, user_id, lat, lon, registered_at) VALUES (?, ?, 1, 2, now())"


@pytest.fixture
def pooled(app_role_pg: RoleUrls, pgbouncer_url: str) -> RoleUrls:
    """The RLS database's role URLs, each through the pooler (one server connection per role)."""
    return RoleUrls(
        through_pooler(app_role_pg.owner, pgbouncer_url),
        through_pooler(app_role_pg.app, pgbouncer_url),
        through_pooler(app_role_pg.platform, pgbouncer_url),
        app_role_pg.app_role,
        app_role_pg.platform_role,
    )


def test_a_tenant_setting_never_survives_into_the_next_transaction_on_the_server_connection(pooled: RoleUrls) -> None:
    first, second = open_database(pooled.app), open_database(pooled.app)  # two clients, one server connection
    try:
        with tenant("acme"), first.transaction() as tx:
            tx.execute(USER, ("acme", "a1"))
            backend = tx.scalar("SELECT pg_backend_pid()")
            assert tx.scalar("SELECT current_setting('datastrata.tenant', true)") == "acme"
        for db in (second, first):
            with db.read() as tx:
                assert tx.scalar("SELECT pg_backend_pid()") == backend
                assert tx.scalar("SELECT current_setting('datastrata.tenant', true)") == ""
                assert tx.scalar("SELECT current_setting('TimeZone')") == "UTC"
                assert tx.scalar("SELECT count(*) FROM food_users") == 0
            with db.session() as tx:
                assert tx.scalar("SELECT count(*) FROM food_users") == 0
        with tenant("globex"), second.session() as tx:
            assert tx.scalar("SELECT count(*) FROM food_users") == 0
        with tenant("acme"), second.session() as tx:
            assert tx.scalar("SELECT count(*) FROM food_users") == 1
    finally:
        first.close()
        second.close()


def test_repeated_statements_from_two_clients_work_without_prepared_statements(pooled: RoleUrls) -> None:
    clients = [open_database(pooled.app) for _ in range(2)]
    try:
        with tenant("acme"):
            for i in range(12):  # psycopg would prepare after 5 uses; another client's names would then collide
                db = clients[i % 2]
                with db.transaction() as tx:
                    tx.execute(USER, ("acme", f"u{i}"))
                    assert tx.scalar("SELECT count(*) FROM food_users WHERE tenant_id = ?", ("acme",)) == i + 1
                with db.session() as tx:
                    assert tx.scalar("SELECT count(*) FROM food_users WHERE user_id = ?", (f"u{i}",)) == 1
    finally:
        for db in clients:
            db.close()


def test_a_bound_session_through_the_pooler_sends_nothing_after_its_transaction_ends(
    pooled: RoleUrls, tmp_path: Path
) -> None:
    # PgBouncer hands the server connection back at its answer to a Sync; a message sent after that (the Flush a
    # psycopg pipeline ends with) takes the pool's one server connection again and holds it, never answered, until
    # that client next speaks: every other client waits meanwhile (query_wait_timeout, on a loaded machine).
    db = PostgresDatabase(pooled.app, max_size=1)  # one connection: the one traced
    try:
        with db.pool.connection() as conn:
            pgconn = conn.pgconn
        with (tmp_path / "trace").open("w") as trace, tenant("acme"):
            pgconn.trace(trace.fileno())
            pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            with db.session() as tx:
                assert tx.scalar("SELECT count(*) FROM food_users WHERE user_id = ?", ("u1",)) == 0
            pgconn.untrace()
        lines = (tmp_path / "trace").read_text().splitlines()
        sent = [line.split("\t")[2].strip() for line in lines if line[:1] == "F"]
        assert sent and sent[-1] in ("Query", "Sync"), sent  # the last message is one ReadyForQuery answers
    finally:
        db.close()


def test_without_the_pooler_flag_pgbouncer_refuses_the_startup_options(pooled: RoleUrls) -> None:
    direct_style = pooled.app.replace("?pooler=pgbouncer", "")
    with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter"):
        psycopg.connect(direct_style, options="-c timezone=UTC")  # what the store sends to a server itself
    with pytest.raises(ConfigurationError, match="pooler='odyssey'"):
        open_database(pooled.app.replace("pgbouncer", "odyssey"))


def test_listen_needs_the_direct_url_behind_a_pooler(pooled: RoleUrls, app_role_pg: RoleUrls) -> None:
    with open_database(pooled.app) as db:
        assert isinstance(db, PostgresDatabase)
        with pytest.raises(ConfigurationError, match="DATASTRATA_DIRECT_STORE"):
            waiter_for(db)
        db.direct_url = app_role_pg.app
        waiter = waiter_for(db)
        waiter.close()


def test_every_system_s_basic_command_works_through_the_pooler(pooled: RoleUrls, app_role_pg: RoleUrls) -> None:
    settings = Settings(store=pooled.app, direct_store=app_role_pg.app, platform_store=app_role_pg.platform)
    with Runtime.open(settings) as runtime, tenant("acme"):
        portfolio = PortfolioService(runtime)
        portfolio.deposit("P1", "1000")
        portfolio.buy("P1", "AAPL", "2", "100")
        assert portfolio.state("P1").cash == Decimal("800")
        masterdata = runtime.service("masterdata", MasterDataService)
        masterdata.put("customer", "C1", {"name": "Ada", "email": "ada@example.com"}, actor="ops")
        assert masterdata.get("customer", "C1").attributes["name"] == "Ada"
        match = MatchService(runtime)
        match.register_team("AAA", "Team A")
        match.register_player("AAA", 9, "Nine")
        food = runtime.service("food", FoodService)
        food.add_user("me", lat=35.68, lon=139.76)
        food.add_restaurant("r1", name="R1", lat=35.68, lon=139.76)
        food.add_menu_item("r1", "r1-dish", name="Dish", price="10")
        placed = food.place_order("me", "r1", items=["r1-dish"])
        fab = FabService(runtime)
        assert fab.register_sensors([("temp-1", "temperature")]) == 1
        fab.ingest("b1", [Reading("temp-1", datetime.now(UTC) - timedelta(seconds=1), 20.0)])
        assert [s["sensor_id"] for s in fab.sensors()] == ["temp-1"]
        mlops = MlopsService(runtime)
        mlops.models.register("churn", b"model v1", metrics={"auc": 0.8})
        assert [v.version for v in mlops.models.versions("churn")] == [1]
        while runtime.run_once():
            pass
        assert portfolio.holders("AAPL", after=runtime.log.head()) == [{"portfolio_id": "P1", "quantity": "2"}]
        assert placed.token > 0
    with psycopg.connect(app_role_pg.owner) as conn:
        assert conn.execute("SELECT DISTINCT tenant_id FROM eventlog_events").fetchall() == [("acme",)]
