"""A new user's first hour: reads never create stores, future business times, unknown ids, PostgreSQL causes."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from datastrata.api import create_app
from datastrata.cli import app, lag_table
from datastrata.core.config import Settings
from datastrata.core.errors import BackendUnavailable
from datastrata.stores.postgres import PostgresDatabase
from datastrata.testing.servers import free_port
from tests.conftest import ApiClient

runner = CliRunner()


def test_a_read_on_a_mistyped_sqlite_path_creates_nothing(tmp_path: Path) -> None:
    typo = tmp_path / "typo-dir" / "shop.db"
    for command in (["portfolio", "state", "A"], ["lag"], ["match", "tv", "M1"], ["deadletters", "list"]):
        done = runner.invoke(app, ["--store", f"sqlite:///{typo}", *command])
        assert done.exit_code == 2, (command, done.output)
        assert f"no store at {typo}" in done.stderr and "first command that writes" in done.stderr
    assert not typo.parent.exists()
    written = runner.invoke(app, ["--store", f"sqlite:///{typo}", "portfolio", "deposit", "A", "10"])
    assert written.exit_code == 0 and typo.is_file()  # a write creates the store, as before


def test_a_business_time_in_the_future_is_refused_on_the_cli(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    base = ["--store", sqlite_url]
    far = runner.invoke(app, [*base, "portfolio", "deposit", "P", "10", "--at", "2099-01-01T00:00:00Z"])
    assert far.exit_code == 2
    assert "--at" in far.stderr and "DATASTRATA_MAX_FUTURE_SECONDS" in far.stderr and "300 s" in far.stderr
    assert runner.invoke(app, [*base, "portfolio", "deposit", "P", "10"]).exit_code == 0  # nothing blocks "now"
    state = json.loads(runner.invoke(app, [*base, "portfolio", "state", "P", "--json"]).stdout)
    assert state["version"] == 1  # the refused deposit wrote nothing
    monkeypatch.setenv("DATASTRATA_MAX_FUTURE_SECONDS", "nope")
    bad = runner.invoke(app, [*base, "portfolio", "deposit", "Q", "10", "--at", "2025-01-01T00:00:00Z"])
    assert bad.exit_code == 2 and "DATASTRATA_MAX_FUTURE_SECONDS='nope'" in bad.stderr


def test_future_times_and_unknown_ids_over_http(store_url: str, tmp_path: Path, api_client: ApiClient) -> None:
    settings = Settings(store=store_url, graph=f"ladybug:///{tmp_path / 'graph'}")
    with api_client(create_app(settings, worker=False)) as http:
        far = http.post("/portfolios/P/deposits", json={"amount": "10", "at": "2099-01-01T00:00:00Z"})
        assert far.status_code == 422 and far.json()["field"] == "at", far.text
        assert http.get("/portfolios/P").status_code == 404  # nothing was written
        assert http.put("/food/users/u1", json={"lat": 35.6, "lon": 139.7}).status_code in (200, 201)
        listed = {"name": "R", "cuisine": "ramen", "lat": 35.6, "lon": 139.7, "address": "1-1 Shibuya"}
        assert http.put("/food/restaurants/r1", json=listed).status_code in (200, 201)
        item = http.put("/food/restaurants/r1/menu/i1", json={"name": "Ramen", "price": "9.50"})
        assert item.status_code in (200, 201), item.text
        order = {
            "order_id": "o1",
            "user_id": "u1",
            "restaurant_id": "r1",
            "items": ["i1"],
            "at": "2099-01-01T00:00:00Z",
        }
        refused = http.post("/food/orders", json=order)
        assert refused.status_code == 422 and "DATASTRATA_MAX_FUTURE_SECONDS" in refused.json()["detail"]
        assert http.get("/food/orders/o1").status_code == 404
        assert http.get("/match/matches/NOPE/tv").status_code == 404
        assert http.get("/match/analytics", params={"match": "NOPE"}).status_code == 404
        assert http.get("/masterdata/customer/NOPE/downstream").status_code == 404


def test_unknown_ids_exit_2_on_the_cli(sqlite_url: str) -> None:
    base = ["--store", sqlite_url]
    assert runner.invoke(app, [*base, "portfolio", "deposit", "P", "10"]).exit_code == 0
    for command in (
        ["match", "tv", "NOPE"],
        ["match", "analytics", "NOPE"],
        ["masterdata", "downstream", "customer", "NOPE"],
    ):
        done = runner.invoke(app, [*base, *command])
        assert done.exit_code == 2 and "NOPE" in done.stderr, (command, done.output)


def _cause(url: str) -> str:
    with pytest.raises(BackendUnavailable) as caught:
        PostgresDatabase(url)
    return caught.value.message


def test_postgresql_says_the_real_cause(pg_server: str) -> None:
    assert 'database "nosuchdb" does not exist; create it with createdb nosuchdb' in _cause(f"{pg_server}/nosuchdb")
    host = pg_server.split("@", 1)[1]
    missing_role = _cause(f"postgresql://ghost@{host}/postgres")
    assert 'role "ghost" does not exist; create it with createuser ghost' in missing_role
    idle = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    assert "no server is listening on 127.0.0.1" in _cause(idle)
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS pwcheck")
        admin.execute("CREATE ROLE pwcheck LOGIN PASSWORD 'right'")
        hba = str(admin.execute("SHOW hba_file").fetchone()[0])  # type: ignore[index]
        text = str(admin.execute("SELECT pg_read_file(%s)", (hba,)).fetchone()[0])  # type: ignore[index]
        rules = [line.replace("\t", " ") for line in text.splitlines() if line.strip() and not line.startswith("#")]
        rule = "host all pwcheck 127.0.0.1/32 scram-sha-256"
        try:
            _write_hba(admin, hba, [rule, *rules])
            wrong = _cause(f"postgresql://pwcheck:wrong@{host}/postgres")
            assert 'password authentication failed for user "pwcheck"; check the password' in wrong
            assert "wrong" not in wrong.replace("wrong@", "")  # the password is not echoed
        finally:
            _write_hba(admin, hba, rules)


def _write_hba(admin: psycopg.Connection[object], path: str, lines: list[str]) -> None:
    """Replace the server's pg_hba.conf (as the superuser) and reload it."""
    admin.execute("CREATE TEMP TABLE IF NOT EXISTS hba_lines (n int, line text)")
    admin.execute("TRUNCATE hba_lines")
    with admin.cursor().copy("COPY hba_lines FROM STDIN") as copy:
        for n, line in enumerate(lines):
            copy.write_row((n, line))
    admin.execute(f"COPY (SELECT line FROM hba_lines ORDER BY n) TO '{path}'")
    admin.execute("SELECT pg_reload_conf()")


def test_serve_refuses_a_bad_or_busy_port_in_one_line(tmp_path: Path) -> None:
    store = ["--store", f"sqlite:///{tmp_path / 's.db'}"]
    bad = runner.invoke(app, [*store, "serve", "--insecure-local", "--port", "99999"])
    assert (
        bad.exit_code == 2
        and bad.stderr.strip() == "error: --port 99999: give a TCP port from 1 to 65535, e.g. --port 8000"
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = runner.invoke(app, [*store, "serve", "--insecure-local", "--no-worker", "--port", str(port)])
    assert busy.exit_code == 1 and len(busy.stderr.strip().splitlines()) == 1
    assert f"--port {port}: cannot listen on 127.0.0.1:{port}" in busy.stderr and "choose another --port" in busy.stderr


def test_a_second_serve_on_one_embedded_store_names_the_pid(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 's.db'}"
    port = free_port()
    first = subprocess.Popen(
        [sys.executable, "-m", "datastrata", "--store", store, "serve", "--insecure-local", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        owner = tmp_path / "s.graph.owner"
        deadline = time.monotonic() + 30
        while not owner.exists():
            assert first.poll() is None and time.monotonic() < deadline, "the first serve did not start"
            time.sleep(0.1)
        second = runner.invoke(app, ["--store", store, "serve", "--insecure-local", "--port", str(free_port())])
        assert second.exit_code == 1 and len(second.stderr.strip().splitlines()) == 1
        assert f"owned by process {first.pid}" in second.stderr and f"kill {first.pid}" in second.stderr
    finally:
        first.terminate()
        first.wait(timeout=30)


def test_recency_with_nothing_in_the_window_says_which_option_widens_it(sqlite_url: str) -> None:
    base = ["--store", sqlite_url]
    seeded = runner.invoke(app, [*base, "food", "seed", "--users", "30", "--restaurants", "8", "--orders", "200"])
    assert seeded.exit_code == 0, seeded.stderr
    old = runner.invoke(app, [*base, "food", "recommend", "u00001", "--weighting", "recency", "--json"])
    assert old.exit_code == 0 and "no order by people like u00001 falls in the recency window" in old.stderr
    assert "--since" in old.stderr and all(row["score"] == 0 for row in json.loads(old.stdout))
    wide = ["--weighting", "recency", "--since", "2000-01-01T00:00:00Z", "--json"]
    widened = runner.invoke(app, [*base, "food", "recommend", "u00001", *wide])
    assert widened.exit_code == 0 and "recency window" not in widened.stderr
    assert any(row["score"] > 0 for row in json.loads(widened.stdout))


def test_lag_columns_fit_long_names_and_large_positions() -> None:
    rows = [
        {"name": "a-very-long-follower-name-" * 2, "position": 12_345_678_901, "behind": 3, "state": "running"},
        {"name": "short", "position": 7, "behind": 98_765_432_109, "state": "running"},
        {"name": "food.graph", "position": None, "head": None, "behind": None, "state": None, "opened": False},
    ]
    lines = lag_table([{**r, "opened": r.get("opened", True)} for r in rows]).splitlines()
    header = lines[0]
    assert header.split() == ["follower", "position", "behind", "state"]
    ends = {line[: header.index("behind") + len("behind")].rstrip()[-1] for line in lines[1:]}
    assert ends <= set("0123456789-")  # every number ends under its heading
    assert len({line.index("running") for line in lines if "running" in line}) == 1


def test_docs_use_only_local_assets_and_they_answer(sqlite_url: str, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    with TestClient(create_app(Settings(store=sqlite_url, graph=f"ladybug:///{tmp_path / 'g'}"), worker=False)) as http:
        page = http.get("/docs")  # public, like /openapi.json: no key needed
        assert page.status_code == 200
        urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
        assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
        assert "cdn" not in page.text.lower() and "https://" not in page.text
        for url in urls:
            answer = http.get(url)
            assert answer.status_code == 200 and answer.content, url
        assert http.get("/redoc").status_code == 404  # ReDoc would need a CDN: not served


def test_the_cli_says_a_missing_database_in_one_line(pg_server: str) -> None:
    for command in (["portfolio", "state", "A"], ["serve", "--insecure-local", "--port", str(free_port())]):
        done = runner.invoke(app, ["--store", f"{pg_server}/typo_db", *command])
        assert done.exit_code == 1, done.output
        errors = [line for line in done.stderr.splitlines() if not line.startswith("WARNING: --insecure-local")]
        assert len(errors) == 1 and "Traceback" not in done.stderr
        assert 'database "typo_db" does not exist; create it with createdb typo_db' in errors[0]
