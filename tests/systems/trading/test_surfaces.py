"""The trading system through the shell, HTTP and the tour."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from datastrata.api import create_app
from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.shell import ShellGroup
from datastrata.systems.trading.cli import app as trading_app
from datastrata.systems.trading.service import SERVICE, TradingService, install
from datastrata.systems.trading.tour import tour_step
from tests.conftest import ApiClient

root = typer.Typer(cls=ShellGroup, no_args_is_help=True, pretty_exceptions_enable=False)
root.add_typer(trading_app, name="trading")
runner = CliRunner()


def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(root, ["trading", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def ok(env: dict[str, str], *args: str) -> Any:
    code, out, err = cli(env, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_the_story_via_cli(tmp_path: Path) -> None:
    env = {"DATASTRATA_STORE": f"sqlite:///{tmp_path / 'home.db'}"}
    assert ok(env, "link", "latency", "5")["latency_ms"] == 5
    ok(env, "deposit", "mei", "5000", "--region", "singapore")
    trade = ok(env, "order", "mei", "AAPL", "10", "190", "--side", "buy", "--region", "singapore",
               "--order-id", "sg-1")  # fmt: skip
    assert trade["cash"] == "3100" and trade["singapore"] == "up to date"
    assert ok(env, "order", "mei", "AAPL", "10", "190", "--side", "buy", "--order-id", "sg-1")["duplicate"]
    ok(env, "order", "mei", "AAPL", "4", "150", "--side", "sell")
    assert ok(env, "positions", "mei")[0]["quantity"] == "6"  # another process: Singapore's store has it
    assert ok(env, "pnl", "mei")["realised"] == "-160"
    assert [a["rule"] for a in ok(env, "alerts", "mei")] == ["stop_loss"]
    assert ok(env, "account", "mei")["cash"] == "3700"
    ok(env, "ticks", "500")
    assert {q["symbol"] for q in ok(env, "quotes")} >= {"AAPL"}
    code, _, err = cli(env, "order", "mei", "AAPL", "60", "150", "--side", "sell")
    assert code != 0 and "short" in err and "Traceback" not in err
    code, _, err = cli(env, "order", "mei", "aapl", "1", "1", "--side", "buy")
    assert code != 0 and "symbol" in err
    assert ok(env, "link", "cut")["cut"] is True
    code, _, err = cli(env, "order", "mei", "AAPL", "1", "150", "--side", "buy", "--region", "singapore")
    assert code != 0 and "cut" in err
    waiting = ok(env, "order", "mei", "AAPL", "1", "150", "--side", "buy")  # New York itself still trades
    assert "wait for the link" in waiting["singapore"]
    assert ok(env, "positions", "mei")[0]["quantity"] == "6"  # Singapore reads locally, not yet caught up
    assert ok(env, "link", "status")["pending"] > 0
    restored = ok(env, "link", "restore")
    assert restored["state"] == "up" and restored["pending"] == 0
    assert ok(env, "positions", "mei")[0]["quantity"] == "7"
    assert ok(env, "sync")["pending"] == 0


def test_every_command_has_help() -> None:
    for args in (["--help"], ["order", "--help"], ["link", "--help"], ["link", "cut", "--help"]):
        code, out, _ = cli({}, *args)
        assert code == 0 and out.strip()
    for command in trading_app.registered_commands:
        assert command.callback is not None and command.callback.__doc__


def test_the_story_via_http(tmp_path: Path, api_client: ApiClient) -> None:
    app = create_app(Settings.embedded(tmp_path))
    with api_client(app) as http:
        assert http.put("/trading/link", json={"latency_ms": 5}).json()["latency_ms"] == 5
        assert http.post("/trading/deposits", json={"user": "lee", "amount": "1000"}).status_code == 201
        body = {"user": "lee", "symbol": "NVDA", "quantity": "5", "price": "120", "side": "buy",
                "region": "singapore"}  # fmt: skip
        first = http.post("/trading/orders", json=body, headers={"Idempotency-Key": "k1"})
        again = http.post("/trading/orders", json=body, headers={"Idempotency-Key": "k1"})
        assert (
            first.status_code == 201
            and again.json()["duplicate"]
            and again.json()["trade_id"] == first.json()["trade_id"]
        )
        over = http.post("/trading/orders", json={**body, "quantity": "100"})
        assert over.status_code == 409 and over.headers["content-type"] == "application/problem+json"
        assert http.post("/trading/orders", json={**body, "symbol": "nvda"}).status_code == 422
        assert http.post("/trading/sync").json()["pending"] == 0
        assert http.get("/trading/positions/lee").json()[0]["quantity"] == "5"
        assert http.get("/trading/pnl/lee").json()["cash"] == "400"
        assert http.get("/trading/alerts/lee").json()[0]["rule"] == "exposure"
        assert http.get("/trading/accounts/lee", params={"region": "singapore"}).json()["cash"] == "400"
        assert http.post("/trading/ticks", json={"count": 100}).json()["ticks"] == 100
        assert http.get("/trading/quotes").json()
        assert http.post("/trading/link/cut").json()["cut"] is True
        refused = http.post("/trading/orders", json={**body, "quantity": "1"})
        assert refused.status_code == 503
        assert http.get("/trading/link").json()["state"] == "cut"
        assert http.post("/trading/link/restore").json()["state"] == "up"
        assert http.get("/trading/accounts/nobody").status_code == 404


def test_tour_step_and_worker_job(tmp_path: Path) -> None:
    lines: list[str] = []
    with Runtime.open(Settings.embedded(tmp_path)) as runtime:
        install(runtime)
        tour_step(runtime, lines.append)
        svc: TradingService = runtime.services[SERVICE]
        svc.order("mei", "MSFT", "1", "410", side="buy")
        runtime.run_once()  # the worker's round starts both regions' threads
        assert svc.catch_up()
        assert [p["quantity"] for p in svc.positions("mei") if p["symbol"] == "MSFT"] == ["3"]
    text = "\n".join(lines)
    assert "refused in New York" in text and "no short selling" in text
    assert "realised -150" in text and "risk alert: stop_loss on AAPL" in text
    assert "Link restored: Singapore caught up" in text and "'MSFT'" in text.splitlines()[-1]
