"""Migrations: automatic on SQLite, explicit on PostgreSQL, recorded once, checksummed, upgrading old stores."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from datastrata.catalog import components, install_all
from datastrata.cli import app
from datastrata.core.config import Settings
from datastrata.core.errors import ConfigurationError
from datastrata.runtime import Runtime
from datastrata.runtime.migrations import SPINE, pending
from datastrata.stores.database import Database
from datastrata.stores.migrations import Component, Migration, migrate
from datastrata.stores.migrations import pending as pending_on
from datastrata.stores.open import open_database
from datastrata.systems.portfolio.service import PortfolioService

runner = CliRunner()
P = "user1-portfolio-A"


def cli_json(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def table_names(db: Database) -> set[str]:
    sql = (
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        if db.dialect == "sqlite"
        else "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    )
    with db.read() as tx:
        return {str(n) for (n,) in tx.query(sql)}


def labels(report: list[dict[str, Any]]) -> list[str]:
    return [f"{m['component']} {m['version']}" for m in report[0]["migrations"]]


def test_sqlite_migrates_on_open_and_a_second_migrate_does_nothing(sqlite_url: str) -> None:
    with Runtime.open(Settings(store=sqlite_url)) as runtime:
        PortfolioService(runtime).deposit(P, "100")
        assert [p.label for p in pending(runtime.home)] == []  # the spine: applied when the store opened
        assert "portfolio.holders" not in [p.component for p in pending(runtime.home, components())]
    first = labels(cli_json("--store", sqlite_url, "migrate"))
    assert "eventlog 1" not in first and "match 1" in first  # what was not opened yet is applied now
    assert cli_json("--store", sqlite_url, "migrate")[0]["migrations"] == []
    with open_database(sqlite_url) as db, db.read() as tx:
        assert tx.scalar("SELECT count(*) FROM eventlog_events") == 1
        recorded = {str(c) for (c,) in tx.query("SELECT component FROM schema_migrations")}
    assert recorded == {c.name for c in components()}


def test_postgres_refuses_to_open_until_migrate_runs(bare_pg_url: str) -> None:
    with pytest.raises(
        ConfigurationError, match=r"pending migrations, the first is eventlog 0001 events_and_snapshots; .*migrate"
    ):
        Runtime.open(Settings(store=bare_pg_url))
    refused = runner.invoke(app, ["--store", bare_pg_url, "portfolio", "deposit", P, "100"])
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1 and "datastrata migrate" in refused.stderr
    dry = cli_json("--store", bare_pg_url, "migrate", "--dry-run")
    assert dry[0]["applied"] is False and labels(dry)[:4] == ["eventlog 1", "eventlog 2", "eventlog 3", "eventlog 4"]
    with pytest.raises(ConfigurationError):  # a dry run changes nothing
        Runtime.open(Settings(store=bare_pg_url))
    applied = cli_json("--store", bare_pg_url, "migrate")
    assert labels(applied) == labels(dry)
    assert cli_json("--store", bare_pg_url, "migrate")[0]["migrations"] == []
    with Runtime.open(Settings(store=bare_pg_url)) as runtime:
        PortfolioService(runtime).deposit(P, "100")
        assert pending(runtime.home, components()) == []


def test_serve_migrate_applies_before_serving(bare_pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    import datastrata.api.app as api

    served: list[object] = []
    monkeypatch.setattr(api, "create_app", lambda settings, worker, auth, **_: settings)
    monkeypatch.setattr(uvicorn, "run", lambda target, **_: served.append(target))
    result = runner.invoke(app, ["--store", bare_pg_url, "serve", "--migrate", "--no-worker"])
    assert result.exit_code == 0, result.stderr
    assert served and "applied" in result.stdout
    with open_database(bare_pg_url) as db:
        assert pending(db, components()) == []


def test_only_the_spine_applied_lists_the_systems_as_pending(bare_pg_url: str) -> None:
    with open_database(bare_pg_url) as db:
        migrate(db, SPINE)
        waiting = {p.component for p in pending(db, components())}
    assert "portfolio.holders" in waiting and "eventlog" not in waiting


def test_an_applied_migration_whose_sql_changed_is_refused(store_url: str) -> None:
    original = Component("test.widgets", (Migration.both(1, "widgets", "CREATE TABLE widgets (id TEXT);"),))
    edited = Component("test.widgets", (Migration.both(1, "widgets", "CREATE TABLE widgets (id INTEGER);"),))
    with open_database(store_url) as db:
        assert [p.label for p in migrate(db, [original])] == ["test.widgets 0001 widgets"]
        assert migrate(db, [original]) == []
        with pytest.raises(ConfigurationError, match=r"test.widgets 0001 widgets was changed after it was applied"):
            migrate(db, [edited])
        with pytest.raises(ConfigurationError, match="new numbered migration"):
            pending_on(db, [edited])


def test_each_migration_applies_with_its_record_or_not_at_all(store_url: str) -> None:
    broken = Component(
        "test.broken",
        (
            Migration.both(1, "good", "CREATE TABLE good_one (id TEXT);"),
            Migration.both(2, "bad", "CREATE TABLE half_done (id TEXT); INSERT INTO no_such_table VALUES (1);"),
        ),
    )
    with open_database(store_url) as db:
        with pytest.raises(Exception, match="no_such_table"):
            migrate(db, [broken])
        assert [p.label for p in pending_on(db, [broken])] == ["test.broken 0002 bad"]
        names = table_names(db)
        assert "good_one" in names and "half_done" not in names


def test_two_components_with_one_name_are_refused() -> None:
    a = Component("test.same", (Migration.both(1, "a", "SELECT 1;"),))
    b = Component("test.same", (Migration.both(1, "b", "SELECT 2;"),))
    with open_database("sqlite:///x.db") as db, pytest.raises(ConfigurationError, match="two different components"):
        migrate(db, [a, b])
    with pytest.raises(ConfigurationError, match="numbered from 1"):
        Component("test.gap", (Migration.both(2, "a", "SELECT 1;"), Migration.both(1, "b", "SELECT 1;")))


#: What a PostgreSQL store made before migrations had: appends announced by a trigger (dropped since).
OLD_NOTIFY_TRIGGER = """
DROP FUNCTION eventlog_refuse_partial_batch(bigint, int);
CREATE OR REPLACE FUNCTION eventlog_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('datastrata_eventlog', '');
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER eventlog_events_notify AFTER INSERT ON eventlog_events
    FOR EACH STATEMENT EXECUTE FUNCTION eventlog_notify();
"""


def test_a_store_made_by_the_old_schema_upgrades_without_losing_a_row(store_url: str) -> None:
    with Runtime.open(Settings(store=store_url)) as runtime:
        svc = PortfolioService(runtime)
        svc.deposit(P, "1000")
        svc.buy(P, "AAPL", "2", "100")
        before = (svc.state(P), [e.event_id for e in svc.events(P)], svc.holders("AAPL"))
    with open_database(store_url) as db, db.transaction() as tx:  # as `ensure_schema` left it: baselines only
        tx.run_script(
            "DROP TABLE schema_migrations; DROP TABLE eventlog_identity;"
            "ALTER TABLE messaging_dead_letters DROP COLUMN first_seen;"
            "ALTER TABLE messaging_dead_letters DROP COLUMN status;"
            "ALTER TABLE projection_checkpoints DROP COLUMN log_id;"
            "ALTER TABLE jobs DROP COLUMN owner; ALTER TABLE jobs DROP COLUMN heartbeat_at;"
            "ALTER TABLE jobs DROP COLUMN interrupted;"
            "DROP INDEX jobs_by_tenant; ALTER TABLE jobs DROP COLUMN tenant_id;"
        )
        if tx.dialect == "postgresql":
            tx.run_script(OLD_NOTIFY_TRIGGER)
    applied = labels(cli_json("--store", store_url, "migrate"))
    assert {"eventlog 4", "portfolio.holders 1", "messaging 2", "checkpoints 2", "jobs 2", "jobs 3"} <= set(applied)
    assert ("eventlog 3" in applied) == store_url.startswith("postgresql")
    with Runtime.open(Settings(store=store_url)) as runtime:
        svc = PortfolioService(runtime)
        assert (svc.state(P), [e.event_id for e in svc.events(P)], svc.holders("AAPL")) == before
        assert len(runtime.log.identity) == 32
        svc.sell(P, "AAPL", "1", "110")  # appends work (the partial-batch guard is back on PostgreSQL)
        assert svc.holders("AAPL") == [{"portfolio_id": P, "quantity": "1"}]
        if runtime.db.dialect == "postgresql":
            with runtime.db.read() as tx:
                assert tx.scalar("SELECT count(*) FROM pg_trigger WHERE tgname = 'eventlog_events_notify'") == 0


def test_the_catalog_names_every_component_the_systems_open(sqlite_url: str) -> None:
    with Runtime.open(Settings(store=sqlite_url)) as runtime:
        install_all(runtime)
        opened = runtime.db.ensured
    assert opened and opened <= {c.name for c in components()}  # else PostgreSQL would refuse to open it


@pytest.fixture(params=["sqlite", "postgresql"])
def bare_store_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """A store with nothing migrated, once per backend."""
    return sqlite_url if request.param == "sqlite" else str(request.getfixturevalue("bare_pg_url"))


def test_two_processes_migrating_at_once_apply_each_migration_once(bare_store_url: str) -> None:
    import threading

    store_url = bare_store_url
    with open_database(store_url) as db, db.session() as tx:  # the file exists (in WAL mode) before they race
        tx.scalar("SELECT 1")
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with open_database(store_url) as db:  # a database object (and pool) of its own, as another process
                results.append([p.label for p in migrate(db, components())])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    with open_database(store_url) as db:
        assert pending_on(db, components()) == []
        with db.read() as tx:
            recorded = tx.scalar("SELECT count(*) FROM schema_migrations")
    applied = [label for labels_ in results for label in labels_]
    assert len(applied) == len(set(applied)) == recorded  # each applied by exactly one of them


def test_ready_asks_whether_the_migrations_are_applied(sqlite_url: str, bare_pg_url: str) -> None:
    from fastapi.testclient import TestClient

    from datastrata.api.app import create_app
    from datastrata.runtime.migrations import require_applied

    with TestClient(create_app(Settings(store=sqlite_url), worker=False)) as http:
        ready = http.get("/ready")
        assert ready.status_code == 200 and ready.json()["checks"]["migrations"] == "ok"
    with open_database(bare_pg_url) as db:
        migrate(db, SPINE)  # a store the systems of this release were never migrated into
    with Runtime.open(Settings(store=bare_pg_url)) as runtime:
        with pytest.raises(ConfigurationError, match=r"not applied in location main .* the first is portfolio"):
            require_applied(runtime, components())
        require_applied(runtime)  # the spine alone is applied
