"""Backup and restore on SQLite and PostgreSQL: write, back up, write more, restore — answers as at the backup."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from datastrata.api import create_app
from datastrata.cli import app
from datastrata.core.config import Settings
from datastrata.core.errors import BackendUnavailable, ConfigurationError, RuleViolation, ValidationError
from datastrata.core.events import NewEvent
from datastrata.core.redact import redact
from datastrata.eventlog.log import EventLog
from datastrata.projections.consistency import ensure_fresh
from datastrata.runtime import Runtime
from datastrata.stores.backup import backup, restore
from datastrata.stores.backup import postgres as pg_backup
from datastrata.stores.backup.manifest import MANIFEST
from datastrata.stores.backup.postgres import find_tool, tool_command
from datastrata.stores.open import open_database
from datastrata.systems.food.service import FoodService
from datastrata.systems.masterdata.service import MasterDataService
from datastrata.systems.match.service import MatchService
from datastrata.systems.portfolio.service import PortfolioService
from datastrata.testing.servers import create_database, migrated
from tests.conftest import authenticated

runner = CliRunner()
P = "backup-portfolio"
MATCH = "BACKUP-CUP"
SECRET = "S3cret-Pa55word"


def write_before(platform: Runtime) -> None:
    """The facts the backup must keep: trades, a master record, a match with a goal, food orders."""
    portfolio = PortfolioService(platform)
    portfolio.deposit(P, "1000")
    portfolio.buy(P, "AAPL", "3", "100")
    MasterDataService(platform).put("customer", "C1", {"name": "Ada", "email": "ada@example.com"}, actor="ops")
    match = MatchService(platform)
    for team in ("AAA", "BBB"):
        match.register_team(team, f"Team {team}")
        for number in range(1, 12):
            match.register_player(team, number, f"Player {team}{number}")
    match.register_referee("REF", "The Referee")
    lineup = list(range(1, 12))
    match.start(MATCH, "AAA", "BBB", "REF", lineup, lineup)
    match.goal(MATCH, "AAA-9", minute=10)
    food = platform.service("food", FoodService)
    for user in ("me", "u1"):
        food.add_user(user, lat=35.68, lon=139.76)
    for rid in ("r1", "x", "y"):
        food.add_restaurant(rid, name=f"R {rid}", lat=35.68, lon=139.76)
        food.add_menu_item(rid, f"{rid}-dish", name="Dish", price="10")
    food.place_order("me", "r1", items=["r1-dish"])
    food.place_order("u1", "r1", items=["r1-dish"])
    food.place_order("u1", "x", items=["x-dish"])


def write_after(platform: Runtime) -> None:
    """Facts after the backup: each changes one of the answers."""
    portfolio = PortfolioService(platform)
    portfolio.sell(P, "AAPL", "3", "120")
    portfolio.buy(P, "MSFT", "1", "50")
    MasterDataService(platform).put("customer", "C1", {"name": "Ada L.", "email": "ada@example.com"}, actor="ops")
    MatchService(platform).goal(MATCH, "BBB-9", minute=20)
    food = platform.service("food", FoodService)
    food.place_order("u1", "y", items=["y-dish"])


def answers(platform: Runtime) -> dict[str, Any]:
    """Every query the systems answer about those facts."""
    portfolio = PortfolioService(platform)
    food = platform.service("food", FoodService)
    tv = MatchService(platform).tv(MATCH, catch_up=True, cached=False)
    return {
        "state": portfolio.state(P).to_dict(),
        "aapl": portfolio.holders("AAPL"),
        "msft": portfolio.holders("MSFT"),
        "customer": dict(MasterDataService(platform).get("customer", "C1").attributes),
        "tv": tv["events"],
        "food": [s.to_dict() for s in food.recommend("me", catch_up=True)],
    }


def test_backup_write_more_restore_rebuild_answers_as_at_the_backup(store_url: str, tmp_path: Path) -> None:
    settings = Settings(store=store_url)
    with Runtime.open(settings) as platform:
        write_before(platform)
        before = answers(platform)
        platform.service("food", FoodService).close()
    assert before["aapl"] and before["food"] and before["tv"]

    made = runner.invoke(app, ["--store", store_url, "backup", "--to", str(tmp_path / "bk"), "--json"])
    assert made.exit_code == 0, made.stderr
    manifest = json.loads(made.stdout)
    assert (
        manifest["dialect"] == store_url.split(":")[0] and manifest["log"]["events"] > 0 and manifest["log"]["identity"]
    )
    assert json.loads((tmp_path / "bk" / MANIFEST).read_text()) == manifest

    with Runtime.open(settings) as platform:
        write_after(platform)
        assert answers(platform) != before
        platform.service("food", FoodService).close()

    restored = runner.invoke(app, ["--store", store_url, "restore", "--from", str(tmp_path / "bk")])
    assert restored.exit_code == 0, restored.stderr
    assert "rebuilt portfolio.holders" in restored.stderr and "rebuilt food.graph" in restored.stderr
    with Runtime.open(settings) as platform:
        assert EventLog(platform.db).count() == manifest["log"]["events"]
        log = EventLog(platform.db)
        assert log.identity != manifest["log"]["identity"]  # the restored log has an identity of its own
        assert [x["restored_from"] for x in log.lineage()] == [manifest["log"]["identity"]]
        assert f"restored from {manifest['log']['identity']}" in restored.stderr
        assert answers(platform) == before
        platform.service("food", FoodService).close()


def test_a_backup_taken_while_a_writer_appends_is_consistent(store_url: str, tmp_path: Path) -> None:
    stop = threading.Event()
    with open_database(store_url) as db:
        log = EventLog(db)
        log.append("seed-0", [NewEvent("Tick")])

        def write() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                log.append(f"stream-{n % 7}", [NewEvent("Tick"), NewEvent("Tick")])

        writer = threading.Thread(target=write)
        writer.start()
        try:
            while log.count() < 50:
                pass
            manifest = backup(store_url, tmp_path / "bk")
            while log.count() < manifest.log.events + 50:  # the writer went on during and after the backup
                pass
        finally:
            stop.set()
            writer.join()
    restore(store_url, tmp_path / "bk")
    with open_database(store_url) as db, db.read() as tx:
        assert tx.scalar("SELECT count(*) FROM eventlog_events") == manifest.log.events
        assert tx.scalar("SELECT max(position) FROM eventlog_events") == manifest.log.head
        versions = tx.query("SELECT stream_id, count(*), min(version), max(version) FROM eventlog_events GROUP BY 1")
    assert versions and all((low, high) == (1, count) for _, count, low, high in versions)


def _events(url: str) -> int:
    with open_database(url) as db:
        return EventLog(db).count()


def test_a_damaged_or_foreign_backup_is_refused_and_the_target_untouched(
    sqlite_url: str, pg_url: str, tmp_path: Path
) -> None:
    with Runtime.open(Settings(store=sqlite_url)) as platform:
        PortfolioService(platform).deposit(P, "10")
    backup(sqlite_url, tmp_path / "bk")
    with Runtime.open(Settings(store=sqlite_url)) as platform:
        PortfolioService(platform).deposit(P, "20")
    damaged = tmp_path / "bk" / "store.sqlite"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))

    refused = runner.invoke(app, ["--store", sqlite_url, "restore", "--from", str(tmp_path / "bk")])
    assert refused.exit_code == 2 and "is damaged: store.sqlite has sha256" in refused.stderr
    assert refused.stderr.count("\n") == 1 and "restore from another backup" in refused.stderr
    assert _events(sqlite_url) == 2

    backup(sqlite_url, tmp_path / "good")
    with Runtime.open(Settings(store=pg_url)) as platform:
        PortfolioService(platform).deposit(P, "30")
    foreign = runner.invoke(app, ["--store", pg_url, "restore", "--from", str(tmp_path / "good")])
    assert foreign.exit_code == 2 and "holds a sqlite store but postgresql://" in foreign.stderr, foreign.stderr
    assert "into a sqlite store URL" in foreign.stderr and _events(pg_url) == 1

    (tmp_path / "stray").mkdir()
    (tmp_path / "stray" / "notes.txt").write_text("hello")
    not_a_backup = runner.invoke(app, ["--store", sqlite_url, "restore", "--from", str(tmp_path / "stray")])
    assert not_a_backup.exit_code == 2 and "has no manifest.json" in not_a_backup.stderr
    taken = runner.invoke(app, ["--store", sqlite_url, "backup", "--to", str(tmp_path / "stray")])
    assert taken.exit_code == 2 and "not an empty directory" in taken.stderr
    assert sorted(p.name for p in (tmp_path / "stray").iterdir()) == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    assert backup(sqlite_url, tmp_path / "empty").log.events == 2  # an empty directory is fine
    manifest = json.loads((tmp_path / "good" / MANIFEST).read_text())
    (tmp_path / "good" / MANIFEST).write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(ValidationError, match="format version 99"):
        restore(sqlite_url, tmp_path / "good")
    assert _events(sqlite_url) == 2


def test_a_store_in_use_is_refused(store_url: str, tmp_path: Path) -> None:
    with Runtime.open(Settings(store=store_url)) as platform:
        PortfolioService(platform).deposit(P, "10")
        backup(platform.db, tmp_path / "bk")
        with pytest.raises(BackendUnavailable, match=r"in use .*stop every `datastrata worker`"):
            restore(store_url, tmp_path / "bk")
        PortfolioService(platform).deposit(P, "10")  # the store is untouched and still works
    assert restore(store_url, tmp_path / "bk").log.events == 1


def test_restoring_sqlite_replaces_the_file_and_its_stale_wal(sqlite_url: str, tmp_path: Path) -> None:
    with Runtime.open(Settings(store=sqlite_url)) as platform:
        PortfolioService(platform).deposit(P, "10")
    backup(sqlite_url, tmp_path / "bk")
    path = tmp_path / "test.db"
    Path(f"{path}-wal").write_bytes(b"stale")
    restore(sqlite_url, tmp_path / "bk")
    assert not Path(f"{path}-wal").exists() and not list(tmp_path.glob(".test.db.restore-*"))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM eventlog_events").fetchone() == (1,)
    fresh = f"sqlite:///{tmp_path / 'new' / 'fresh.db'}"  # restoring into a store that does not exist yet
    assert restore(fresh, tmp_path / "bk").log.events == 1 and _events(fresh) == 1


@pytest.fixture
def password_url(pg_server: str) -> str:
    """A database owned by a role that must give its password (scram-sha-256 over TCP), as a URL with it."""
    import psycopg

    role, database = "backup_owner", f"backup_secret_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{SECRET}'".encode())
        conn.execute(f"CREATE DATABASE {database} OWNER {role}".encode())
        hba = Path(conn.execute("SHOW hba_file").fetchone()[0])  # type: ignore[index]
        rule = f"host all {role} 127.0.0.1/32 scram-sha-256\n"
        if rule not in hba.read_text():
            hba.write_text(rule + hba.read_text())  # only this role; every other test keeps trust
            conn.execute("SELECT pg_reload_conf()")
    without = f"{pg_server.replace('postgres@', f'{role}@')}/{database}"
    deadline = time.monotonic() + 5
    while True:  # wait until the reloaded rules demand the password
        try:
            psycopg.connect(without, connect_timeout=2).close()
        except psycopg.OperationalError:
            break
        assert time.monotonic() < deadline, "the server does not ask for the password"
        time.sleep(0.05)
    return migrated(without.replace(f"{role}@", f"{role}:{SECRET}@"))  # as its owner, as a deploy would


def test_secrets_never_appear_in_output_manifests_or_command_lines(password_url: str, tmp_path: Path) -> None:
    with Runtime.open(Settings(store=password_url)) as platform:
        PortfolioService(platform).deposit(P, "10")
    made = runner.invoke(app, ["--store", password_url, "backup", "--to", str(tmp_path / "bk"), "--json"])
    assert made.exit_code == 0, made.stderr
    assert json.loads(made.stdout)["source"].startswith("postgresql://backup_owner:***@")
    with Runtime.open(Settings(store=password_url)) as platform:
        PortfolioService(platform).deposit(P, "20")
    restored = runner.invoke(app, ["--store", password_url, "restore", "--from", str(tmp_path / "bk"), "--json"])
    assert restored.exit_code == 0, restored.stderr
    assert _events(password_url) == 1
    wrong = password_url.replace(SECRET, "Wr0ngPassw0rd")
    failed = runner.invoke(app, ["--store", wrong, "backup", "--to", str(tmp_path / "bk2")])
    assert failed.exit_code == 1 and "password authentication failed" in failed.stderr
    outputs = [made.stdout, made.stderr, restored.stdout, restored.stderr, failed.stderr]
    outputs += [p.read_text(errors="replace") for p in (tmp_path / "bk").iterdir() if p.name == MANIFEST]
    assert all(SECRET not in text and "Wr0ngPassw0rd" not in text for text in outputs)
    assert "***" in made.stderr and "***" in restored.stderr
    argv, env, _ = tool_command(find_tool("pg_dump"), password_url, "--format=custom")
    assert SECRET not in " ".join(argv) and env["PGPASSWORD"] == SECRET


def test_redact_hides_passwords_in_urls_connection_strings_and_tool_output() -> None:
    assert redact("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("postgresql://u@h/db?sslmode=require&password=hunter2") == (
        "postgresql://u@h/db?sslmode=require&password=***"
    )
    assert redact("host=h password='a b' user=u") == "host=h password=*** user=u"
    assert redact("FATAL: bad p@ss for u", ["p@ss"]) == "FATAL: bad *** for u"
    assert redact("redis://:token@h:6379/0") == "redis://:***@h:6379/0"


def test_a_restore_forgets_a_shared_cache_that_remembers_newer_reads(
    sqlite_url: str, redis_url: str, tmp_path: Path
) -> None:
    settings = Settings(store=sqlite_url, cache=redis_url)

    def put_and_read(name: str) -> str:
        with Runtime.open(settings) as platform:
            mdm = MasterDataService(platform)
            mdm.put("customer", "C1", {"name": name, "email": "ada@example.com"}, actor="ops")
            return str(mdm.get("customer", "C1").attributes["name"])  # now in Redis

    assert put_and_read("Ada") == "Ada"
    backup(sqlite_url, tmp_path / "bk")
    assert put_and_read("Ada L.") == "Ada L."
    restored = runner.invoke(
        app, ["--store", sqlite_url, "--cache", redis_url, "restore", "--from", str(tmp_path / "bk")]
    )
    assert restored.exit_code == 0, restored.stderr
    assert "cached entries from redis://" in restored.stderr
    with Runtime.open(settings) as platform:
        assert MasterDataService(platform).get("customer", "C1").attributes["name"] == "Ada"


def test_postgres_restores_into_an_empty_database_and_refuses_one_with_other_tables(
    pg_url: str, pg_server: str, tmp_path: Path
) -> None:
    with Runtime.open(Settings(store=pg_url)) as platform:
        PortfolioService(platform).deposit(P, "10")
    backup(pg_url, tmp_path / "bk")
    empty = create_database(pg_server, f"empty_{uuid.uuid4().hex[:6]}")
    assert restore(empty, tmp_path / "bk").log.events == 1 and _events(empty) == 1
    with open_database(empty) as db, db.transaction() as tx:
        tx.execute("CREATE TABLE stray (x int)")
    with pytest.raises(ValidationError, match=r"has tables the backup does not \(public\.stray\)"):
        restore(empty, tmp_path / "bk")


def test_missing_postgres_tools_are_named_with_the_package_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH…
    monkeypatch.setattr(pg_backup.glob, "glob", lambda _: [])  # …and no /usr/lib/postgresql/*/bin
    monkeypatch.delenv(pg_backup.BINDIR_ENV, raising=False)
    with pytest.raises(ConfigurationError, match=r"pg_dump not found; install .*postgresql-client"):
        pg_backup.find_tool("pg_dump")


def test_a_restore_resets_a_redis_bus_so_new_events_are_not_dropped_as_repeats(
    sqlite_url: str, redis_url: str, tmp_path: Path
) -> None:
    settings = Settings(store=sqlite_url, bus=redis_url)

    def put_and_deliver(name: str) -> str:
        with Runtime.open(settings) as platform:
            mdm = platform.service("masterdata", MasterDataService)
            mdm.put("customer", "C1", {"name": name, "email": "ada@example.com"}, actor="ops")
            mdm.settle()
            (copy,) = mdm.downstream("customer", "C1")
            return str(copy["copy"]["attributes"]["name"])

    assert put_and_deliver("Ada") == "Ada"
    backup(sqlite_url, tmp_path / "bk")
    assert put_and_deliver("Ada L.") == "Ada L."  # the stream now holds the position the next event will reuse
    restored = runner.invoke(
        app, ["--store", sqlite_url, "--bus", redis_url, "restore", "--from", str(tmp_path / "bk")]
    )
    assert restored.exit_code == 0, restored.stderr
    assert "emptied the bus stream" in restored.stderr
    assert put_and_deliver("Ada K.") == "Ada K."


def test_restore_without_rebuild_prints_only_the_manifest_on_stdout(sqlite_url: str, tmp_path: Path) -> None:
    with Runtime.open(Settings(store=sqlite_url)) as platform:
        PortfolioService(platform).deposit(P, "10")
    backup(sqlite_url, tmp_path / "bk")
    done = runner.invoke(
        app, ["--store", sqlite_url, "restore", "--from", str(tmp_path / "bk"), "--no-rebuild", "--json"]
    )
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["log"]["events"] == 1
    assert "backup verified" in done.stderr and "rebuilt" not in done.stderr


def test_a_restore_refuses_checkpoints_and_tokens_of_the_log_before_it(store_url: str, tmp_path: Path) -> None:
    settings = Settings(store=store_url, graph=f"ladybug:///{tmp_path / 'graph'}")
    with Runtime.open(settings) as platform:
        svc = PortfolioService(platform)
        svc.deposit(P, "1000")
        svc.buy(P, "AAPL", "2", "100")
        assert svc.holders("AAPL") == [{"portfolio_id": P, "quantity": "2"}]
    backup(store_url, tmp_path / "bk")
    with Runtime.open(settings) as platform:
        svc = PortfolioService(platform)
        svc.buy(P, "AAPL", "5", "100")
        token, before = platform.log.head(), platform.log.identity
        assert svc.holders("AAPL", after=token) == [{"portfolio_id": P, "quantity": "7"}]

    plain = runner.invoke(
        app,
        ["--store", store_url, "--graph", settings.graph, "restore", "--from", str(tmp_path / "bk"), "--no-rebuild"],
    )
    assert plain.exit_code == 0, plain.stderr
    with Runtime.open(settings) as platform:  # read models not rebuilt: they follow the log before the restore
        now = platform.log.identity
        assert now != before
        with pytest.raises(ConfigurationError) as refused:
            PortfolioService(platform).holders("AAPL")
        line = str(refused.value)
        assert before in line and now in line and "datastrata rebuild portfolio.holders" in line
        assert "\n" not in line

    again = runner.invoke(
        app, ["--store", store_url, "--graph", settings.graph, "restore", "--from", str(tmp_path / "bk")]
    )
    assert again.exit_code == 0, again.stderr
    with Runtime.open(settings) as platform:
        svc = PortfolioService(platform)
        assert svc.holders("AAPL") == [{"portfolio_id": P, "quantity": "2"}]  # as at the backup
        assert svc.state(P).cash == 800
        svc.buy(P, "MSFT", "1", "10")
        if store_url.startswith("sqlite"):  # SQLite hands out again a position the old token named
            assert platform.log.head() <= token
        with pytest.raises(RuleViolation) as stale:
            ensure_fresh(svc.holders_runner, after=token, log=before)
        assert (
            stale.value.field == "log"
            and before in stale.value.message
            and platform.log.identity in stale.value.message
        )
        assert "was restored from" in stale.value.message
        fresh = ensure_fresh(svc.holders_runner, after=platform.log.head(), log=platform.log.identity)
        assert fresh.log == platform.log.identity
    with authenticated(create_app(settings, worker=False)) as http:
        answer = http.get("/holders/AAPL", params={"after": token, "log": before, "timeout": 1})
        assert answer.status_code == 409 and answer.json()["field"] == "log", answer.text
        assert "was restored from" in answer.json()["detail"]
