"""The portfolio through the shell and HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from datastrata.api import create_app
from datastrata.cli import app
from datastrata.core.config import Settings
from tests.conftest import ApiClient

P = "user123-portfolio-A"
runner = CliRunner()


def cli(store: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--store", store, *args])
    return result.exit_code, result.stdout, result.stderr


def test_seed_scenario_via_cli(store_url: str) -> None:
    for args in (
        ["portfolio", "deposit", P, "10000", "--at", "2025-09-12T09:00:00Z"],
        ["portfolio", "buy", P, "AAPL", "10", "175", "--at", "2025-09-12T10:00:00Z"],
        ["portfolio", "buy", P, "NVDA", "5", "950", "--at", "2025-09-12T11:00:00Z"],
        ["portfolio", "sell", P, "AAPL", "3", "180", "--at", "2025-09-12T12:00:00Z", "--event-id", "sell-1"],
    ):
        code, out, err = cli(store_url, *args)
        assert code == 0, err
    code, out, _ = cli(store_url, "portfolio", "state", P, "--json")
    assert code == 0
    assert json.loads(out) == {
        "portfolio_id": P,
        "cash": "4040.00",
        "holdings": {"AAPL": "7", "NVDA": "5"},
        "version": 4,
    }
    state2 = json.loads(cli(store_url, "portfolio", "state", P, "--at-version", "2", "--json")[1])
    assert (state2["cash"], state2["holdings"]) == ("8250.00", {"AAPL": "10"})
    as_of = json.loads(cli(store_url, "portfolio", "state", P, "--as-of", "2025-09-12T10:30:00Z")[1])
    assert as_of["cash"] == "8250.00"
    events = json.loads(cli(store_url, "portfolio", "events", P, "--json")[1])
    assert [e["version"] for e in events] == [1, 2, 3, 4]
    holders = json.loads(cli(store_url, "portfolio", "holders", "AAPL", "--json")[1])
    assert holders == [{"portfolio_id": P, "quantity": "7"}]
    # --store after the sub-command works as well, and a retried command is reported, not repeated.
    sell = ["sell", P, "AAPL", "3", "180", "--at", "2025-09-12T12:00:00Z", "--event-id", "sell-1", "--json"]
    retry = runner.invoke(app, ["portfolio", "--store", store_url, *sell])
    assert retry.exit_code == 0 and json.loads(retry.stdout)["duplicate"] is True
    # The same key with other content is refused, naming the key.
    other = runner.invoke(app, ["portfolio", "--store", store_url, *sell[:3], "4", *sell[4:]])
    assert other.exit_code == 2 and "'sell-1'" in other.stderr


def test_cli_refusals_exit_2_with_one_line_and_no_traceback(sqlite_url: str) -> None:
    cli(sqlite_url, "portfolio", "deposit", P, "100")
    code, out, err = cli(sqlite_url, "portfolio", "buy", P, "AAPL", "10", "175")
    assert code == 2 and err.startswith("error: cannot buy") and "Traceback" not in err + out
    code, _, err = cli(sqlite_url, "portfolio", "state", "ghost")
    assert code == 2 and "no events" in err
    code, _, err = cli(sqlite_url, "portfolio", "deposit", P, "100", "--at", "yesterday")
    assert code == 2 and "ISO-8601" in err
    assert json.loads(cli(sqlite_url, "portfolio", "state", P, "--json")[1])["version"] == 1


def test_cli_system_failure_exits_1() -> None:
    code, _, err = cli("postgresql://nobody@127.0.0.1:1/none", "portfolio", "state", P)
    assert code == 1 and "no server is listening on 127.0.0.1:1" in err and "Traceback" not in err


def test_every_command_has_help() -> None:
    from datastrata.cli import app as root

    def walk(group: object, path: list[str]) -> list[list[str]]:
        out = [path]
        for name, cmd in getattr(group, "commands", {}).items():
            out += walk(cmd, [*path, name])
        return out

    import click.testing
    import typer.main

    command = typer.main.get_command(root)  # built once: typer's runner would rebuild the whole tree per call
    clicks = click.testing.CliRunner()
    for path in walk(command, []):
        result = clicks.invoke(command, [*path, "--help"], prog_name="datastrata")
        assert result.exit_code == 0, path
        assert len(result.stdout.strip().splitlines()) > 3, path


def test_seed_scenario_via_http(store_url: str, api_client: ApiClient) -> None:
    with api_client(create_app(Settings(store=store_url))) as http:
        assert http.post(f"/portfolios/{P}/deposits", json={"amount": "10000"}).status_code == 201
        for side, sym, q, px in (
            ("buy", "AAPL", "10", "175"),
            ("buy", "NVDA", "5", "950"),
            ("sell", "AAPL", "3", "180"),
        ):
            r = http.post(f"/portfolios/{P}/trades", json={"side": side, "symbol": sym, "quantity": q, "price": px})
            assert r.status_code == 201, r.text
        body = http.get(f"/portfolios/{P}").json()
        assert body == {"portfolio_id": P, "cash": "4040.00", "holdings": {"AAPL": "7", "NVDA": "5"}, "version": 4}
        assert http.get(f"/portfolios/{P}", params={"at_version": 2}).json()["cash"] == "8250.00"
        assert len(http.get(f"/portfolios/{P}/events").json()["items"]) == 4
        token = http.get(f"/portfolios/{P}").json()["version"]  # a read never catches up: wait for the worker
        events = http.get(f"/portfolios/{P}/events").json()["items"]
        holders = http.get("/holders/AAPL", params={"after": events[-1]["position"]}).json()
        assert holders == {"items": [{"portfolio_id": P, "quantity": "7"}], "next_cursor": None} and token == 4

        refused = http.post(f"/portfolios/{P}/withdrawals", json={"amount": "999999"})
        assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
        assert "cannot withdraw" in refused.json()["detail"]
        invalid = http.post(f"/portfolios/{P}/trades", json={"side": "hold", "symbol": "AAPL", "quantity": "1"})
        assert invalid.status_code == 422 and invalid.headers["content-type"] == "application/problem+json"
        assert "side" in invalid.json()["detail"] and "price" in invalid.json()["detail"]
        bad_symbol = http.post(
            f"/portfolios/{P}/trades", json={"side": "buy", "symbol": "x y", "quantity": "1", "price": "1"}
        )
        assert bad_symbol.status_code == 422 and bad_symbol.json()["field"] == "symbol"
        assert http.get("/portfolios/ghost").status_code == 404
        assert http.get("/health").json()["status"] == "ok"
        unknown = http.get("/no/such/route")
        assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
        assert http.get("/openapi.json").status_code == 200
