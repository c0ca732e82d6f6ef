"""Every command result carries `token` and `log`; a read given a token of another log refuses it, naming both."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datastrata.api import create_app
from datastrata.cli import app as cli_app
from datastrata.core.config import Settings
from datastrata.core.errors import RuleViolation
from datastrata.runtime import Runtime
from datastrata.systems.food.service import FoodService
from datastrata.systems.match.service import MatchService
from datastrata.systems.portfolio.service import PortfolioService
from tests.conftest import ApiClient
from tests.systems.match.conftest import LINEUP, MATCH, register

OTHER = "00000000-0000-4000-8000-000000000000"


def test_every_query_taking_a_token_refuses_one_of_another_log(store_url: str, tmp_path: Path) -> None:
    with Runtime.open(Settings(store=store_url, graph=f"ladybug:///{tmp_path / 'graph'}")) as runtime:
        portfolio = PortfolioService(runtime)
        deposit = portfolio.deposit("p1", "10")
        assert deposit.to_dict()["log"] == runtime.log.identity
        assert portfolio.holders("AAPL", after=deposit.token, log=deposit.log) == []  # its own log: served
        match = MatchService(runtime)
        register(match)
        started = match.start(MATCH, "ARG", "FRA", "MARCINIAK", LINEUP, LINEUP)
        food: FoodService = runtime.service("food", FoodService)
        written = food.add_user("u1", lat=35.0, lon=139.0)
        assert written.log == runtime.log.identity
        reads: list[Callable[[], object]] = [
            lambda: portfolio.holders("AAPL", after=deposit.token, log=OTHER),
            lambda: match.tv(MATCH, after=started.token, log=OTHER),
            lambda: match.news(after=started.token, log=OTHER),
            lambda: match.social(after=started.token, log=OTHER),
            lambda: match.analytics(MATCH, after=started.token, log=OTHER),
            lambda: food.cuisines("u1", after=written.token, log=OTHER),
            lambda: food.recommend("u1", after=written.token, log=OTHER),
        ]
        for read in reads:
            with pytest.raises(RuleViolation) as refused:
                read()
            assert OTHER in refused.value.message and runtime.log.identity in refused.value.message


def test_http_and_cli_refuse_a_token_of_another_log(sqlite_url: str, api_client: ApiClient) -> None:
    with api_client(create_app(Settings(store=sqlite_url))) as http:
        deposit = http.post("/portfolios/p1/deposits", json={"amount": "10"}).json()
        own = http.get("/holders/AAPL", params={"after": deposit["token"], "log": deposit["log"]})
        assert own.status_code == 200
        refused = http.get("/holders/AAPL", params={"after": deposit["token"], "log": OTHER})
        assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
        assert OTHER in refused.json()["detail"] and deposit["log"] in refused.json()["detail"]
        assert http.get("/match/news", params={"after": 1, "log": OTHER}).status_code == 409
    runner = CliRunner()
    result = runner.invoke(
        cli_app, ["--store", sqlite_url, "portfolio", "holders", "AAPL", "--after", "1", "--log", OTHER]
    )
    assert result.exit_code == 2 and OTHER in result.stderr
    shown = runner.invoke(cli_app, ["--store", sqlite_url, "portfolio", "holders", "AAPL", "--log", deposit["log"]])
    assert shown.exit_code == 0, shown.stderr
    placed = runner.invoke(
        cli_app, ["--store", sqlite_url, "food", "user", "add", "u1", "--lat", "1", "--lon", "1", "--json"]
    )
    assert json.loads(placed.stdout)["log"] == deposit["log"]
