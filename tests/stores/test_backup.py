"""Backup and restore on SQLite and PostgreSQL: write, back up, write more, restore — answers as at the backup."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from datastrata.cli import app
from datastrata.core.config import Settings
from datastrata.core.errors import BackendUnavailable, ValidationError
from datastrata.core.events import NewEvent
from datastrata.eventlog.log import EventLog
from datastrata.platform import Platform
from datastrata.stores.backup import backup, restore
from datastrata.stores.backup.manifest import MANIFEST
from datastrata.stores.open import open_database
from datastrata.systems.food.service import FoodService
from datastrata.systems.masterdata.service import MasterDataService
from datastrata.systems.match.service import MatchService
from datastrata.systems.portfolio.service import PortfolioService

runner = CliRunner()
P = "backup-portfolio"
MATCH = "BACKUP-CUP"


def write_before(platform: Platform) -> None:
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
    food.place_order("me", "r1")
    food.place_order("u1", "r1")
    food.place_order("u1", "x")


def write_after(platform: Platform) -> None:
    """Facts after the backup: each changes one of the answers."""
    portfolio = PortfolioService(platform)
    portfolio.sell(P, "AAPL", "3", "120")
    portfolio.buy(P, "MSFT", "1", "50")
    MasterDataService(platform).put("customer", "C1", {"name": "Ada L.", "email": "ada@example.com"}, actor="ops")
    MatchService(platform).goal(MATCH, "BBB-9", minute=20)
    food = platform.service("food", FoodService)
    food.place_order("u1", "y")


def answers(platform: Platform) -> dict[str, Any]:
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
    with Platform.open(settings) as platform:
        write_before(platform)
        before = answers(platform)
        platform.service("food", FoodService).close()
    assert before["aapl"] and before["food"] and before["tv"]

    made = runner.invoke(app, ["--store", store_url, "backup", "--to", str(tmp_path / "bk"), "--json"])
    assert made.exit_code == 0, made.stderr
    manifest = json.loads(made.stdout)
    assert manifest["dialect"] == store_url.split(":")[0] and manifest["log"]["events"] > 0
    assert json.loads((tmp_path / "bk" / MANIFEST).read_text()) == manifest

    with Platform.open(settings) as platform:
        write_after(platform)
        assert answers(platform) != before
        platform.service("food", FoodService).close()

    restored = runner.invoke(app, ["--store", store_url, "restore", "--from", str(tmp_path / "bk")])
    assert restored.exit_code == 0, restored.stderr
    assert "rebuilt portfolio.holders" in restored.stderr and "rebuilt food.graph" in restored.stderr
    with Platform.open(settings) as platform:
        assert EventLog(platform.db).count() == manifest["log"]["events"]
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
            while log.count() < manifest.log_events + 50:  # the writer went on during and after the backup
                pass
        finally:
            stop.set()
            writer.join()
    restore(store_url, tmp_path / "bk")
    with open_database(store_url) as db, db.read() as tx:
        assert tx.scalar("SELECT count(*) FROM eventlog_events") == manifest.log_events
        assert tx.scalar("SELECT max(position) FROM eventlog_events") == manifest.log_head
        versions = tx.query("SELECT stream_id, count(*), min(version), max(version) FROM eventlog_events GROUP BY 1")
    assert versions and all((low, high) == (1, count) for _, count, low, high in versions)


def _events(url: str) -> int:
    with open_database(url) as db:
        return EventLog(db).count()


def test_a_damaged_or_foreign_backup_is_refused_and_the_target_untouched(
    sqlite_url: str, pg_url: str, tmp_path: Path
) -> None:
    with Platform.open(Settings(store=sqlite_url)) as platform:
        PortfolioService(platform).deposit(P, "10")
    backup(sqlite_url, tmp_path / "bk")
    with Platform.open(Settings(store=sqlite_url)) as platform:
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
    with Platform.open(Settings(store=pg_url)) as platform:
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
    assert backup(sqlite_url, tmp_path / "empty").log_events == 2  # an empty directory is fine
    manifest = json.loads((tmp_path / "good" / MANIFEST).read_text())
    (tmp_path / "good" / MANIFEST).write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(ValidationError, match="format version 99"):
        restore(sqlite_url, tmp_path / "good")
    assert _events(sqlite_url) == 2


def test_a_store_in_use_is_refused(store_url: str, tmp_path: Path) -> None:
    with Platform.open(Settings(store=store_url)) as platform:
        PortfolioService(platform).deposit(P, "10")
        backup(platform.db, tmp_path / "bk")
        with pytest.raises(BackendUnavailable, match=r"in use .*stop every `datastrata worker`"):
            restore(store_url, tmp_path / "bk")
        PortfolioService(platform).deposit(P, "10")  # the store is untouched and still works
    assert restore(store_url, tmp_path / "bk").log_events == 1


def test_restoring_sqlite_replaces_the_file_and_its_stale_wal(sqlite_url: str, tmp_path: Path) -> None:
    with Platform.open(Settings(store=sqlite_url)) as platform:
        PortfolioService(platform).deposit(P, "10")
    backup(sqlite_url, tmp_path / "bk")
    path = tmp_path / "test.db"
    Path(f"{path}-wal").write_bytes(b"stale")
    restore(sqlite_url, tmp_path / "bk")
    assert not Path(f"{path}-wal").exists() and not list(tmp_path.glob(".test.db.restore-*"))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM eventlog_events").fetchone() == (1,)
    fresh = f"sqlite:///{tmp_path / 'new' / 'fresh.db'}"  # restoring into a store that does not exist yet
    assert restore(fresh, tmp_path / "bk").log_events == 1 and _events(fresh) == 1
