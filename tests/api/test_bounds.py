"""Every input bounded, nothing silently changed: each refusal on the CLI (exit 2) and over HTTP (422 naming it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from datastrata.api import create_app
from datastrata.cli import app as cli_app
from datastrata.core.config import Settings
from datastrata.core.errors import ValidationError
from datastrata.core.validation import bounded_float, bounded_int, decimal_value
from tests.conftest import authenticated

P = "p1"
runner = CliRunner()
BIG = str(2**63)
ARABIC_100 = "\u0661\u0660\u0660"  # Arabic-Indic digits: Decimal() would read 100
ARABIC_PRICE = "\u0661\u0669.\u0669\u0669"


@pytest.fixture
def env(sqlite_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment naming one SQLite store and one graph, shared by the CLI and the app."""
    return {"DATASTRATA_STORE": sqlite_url, "DATASTRATA_GRAPH": f"ladybug:///{tmp_path / 'graph'}"}


@pytest.fixture
def http(env: dict[str, str]) -> Iterator[TestClient]:
    """The whole app on that store, without a worker."""
    settings = Settings(store=env["DATASTRATA_STORE"], graph=env["DATASTRATA_GRAPH"])
    with authenticated(create_app(settings, worker=False)) as client:
        yield client


def cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = runner.invoke(cli_app, list(args), env=env)
    return result.exit_code, result.stderr + result.stdout


def refused(response: Any, field: str) -> str:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field, response.json()
    return str(response.json()["detail"])


def test_the_shared_rules_refuse_instead_of_changing() -> None:
    for value in (ARABIC_100, "1E+3", "1e2", " 1 0", "0x10", "nan", "Infinity", True, "1.123456789"):
        with pytest.raises(ValidationError) as err:
            decimal_value(value, field="amount", max_digits=15, max_decimals=8)
        assert err.value.field == "amount"
    assert decimal_value("100.10", field="a", max_digits=15, max_decimals=2) == decimal_value(
        "100.1", field="a", max_digits=15, max_decimals=2
    )
    with pytest.raises(ValidationError, match="15 digits before the point"):
        decimal_value("1" * 16, field="a", max_digits=15, max_decimals=2)
    for bad in (True, 2**63, -1, "٣", "1.5", 1.5):
        with pytest.raises(ValidationError):
            bounded_int(bad, field="limit")
    for nan in (float("nan"), float("inf"), "nan", True):
        with pytest.raises(ValidationError):
            bounded_float(nan, field="near_km", minimum=0, maximum=10)


def test_portfolio_amounts_are_ascii_plain_decimals_within_digits(env: dict[str, str], http: TestClient) -> None:
    for amount in (ARABIC_100, "1E+2", "1.123456789", "1234567890123456"):
        code, out = cli(env, "portfolio", "deposit", P, amount)
        assert code == 2 and "amount" in out and "Traceback" not in out, out
        refused(http.post(f"/portfolios/{P}/deposits", json={"amount": amount}), "amount")
    refused(http.post(f"/portfolios/{P}/deposits", json={"amount": True}), "amount")  # booleans are not numbers
    refused(http.post(f"/portfolios/{P}/deposits", json={"amount": 100}), "amount")  # money is text: no float
    assert http.post(f"/portfolios/{P}/deposits", json={"amount": "100.5"}).status_code == 201
    refused(http.get(f"/portfolios/{P}", params={"at_version": BIG}), "at_version")
    refused(http.get(f"/portfolios/{P}/events", params={"limit": BIG}), "limit")
    refused(http.post(f"/portfolios/{P}/deposits", json={"amount": "1", "event_id": "x" * 201}), "event_id")
    code, out = cli(env, "portfolio", "state", P, "--at-version", BIG)
    assert code == 2 and "at_version" in out


def test_food_prices_are_refused_not_rounded_and_orders_need_items(env: dict[str, str], http: TestClient) -> None:
    assert http.put("/food/restaurants/r1", json={"name": "R", "lat": 35.0, "lon": 139.0}).status_code == 200
    assert http.put("/food/users/u1", json={"lat": 35.0, "lon": 139.0}).status_code == 200
    code, out = cli(env, "food", "menu", "add", "r1", "m1", "--name", "M", "--price", "9.999")
    assert code == 2 and "price" in out and "2 after" in out
    detail = refused(http.put("/food/restaurants/r1/menu/m1", json={"name": "M", "price": "9.999"}), "price")
    assert "pattern" in detail or "2 after" in detail
    assert http.put("/food/restaurants/r1/menu/m1", json={"name": "M", "price": "9.99"}).status_code == 200
    assert http.get("/food/restaurants/r1").json()["menu"][0]["price"] == "9.99"
    refused(http.post("/food/orders", json={"user_id": "u1", "restaurant_id": "r1", "items": []}), "items")
    code, out = cli(env, "food", "order", "u1", "r1")
    assert code == 2 and "at least one menu item" in out
    refused(http.put("/food/restaurants/r2", json={"name": "x" * 201, "lat": 0, "lon": 0}), "name")
    refused(http.post("/food/seed", json={"users": 100_000_000}), "users")
    code, out = cli(env, "food", "seed", "--users", "100000000")
    assert code == 2 and "users" in out
    for option, value in (("--near-km", "nan"), ("--limit", "-5")):
        code, out = cli(env, "food", "cuisines", "u1", option, value)
        assert code == 2 and option.strip("-").replace("-", "_") in out, out
    refused(http.get("/food/users/u1/cuisines", params={"near_km": "nan"}), "near_km")
    refused(http.get("/food/users/u1/recommendations", params={"limit": -5}), "limit")
    code, out = cli(env, "food", "recommend", "u1", "--limit", "-5")
    assert code == 2 and "limit" in out


def test_master_data_values_fit_the_downstream_copies(env: dict[str, str], http: TestClient) -> None:
    sets = ("--set", "name=Kettle", "--set", "sku=K1", "--set", "price=1E+400")
    code, out = cli(env, "masterdata", "put", "product", "P1", *sets)
    assert code == 2 and "price" in out
    body = {"attributes": {"name": "Kettle", "sku": "K1", "price": "1E+400"}}
    refused(http.put("/masterdata/product/P1", json=body), "price")
    body = {"attributes": {"name": "Kettle", "sku": "K1", "price": ARABIC_PRICE}}
    refused(http.put("/masterdata/product/P1", json=body), "price")
    refused(http.get("/masterdata/audit", params={"limit": BIG}), "limit")
    code, out = cli(env, "masterdata", "audit", "--limit", "-5")
    assert code == 2 and "limit" in out


def test_match_bulk_and_waits_are_bounded(env: dict[str, str], http: TestClient) -> None:
    refused(http.post("/match/simulate", json={"matches": 1_000_000}), "matches")
    refused(http.post("/match/simulate", json={"matches": True}), "matches")
    refused(http.post("/food/seed", json={"users": True}), "users")
    refused(http.put("/food/users/u1", json={"lat": True, "lon": 0}), "lat")
    refused(http.get("/match/news", params={"after": 1, "timeout": 3600}), "timeout")
    refused(http.get("/match/news", params={"after": BIG}), "after")
    refused(http.post("/match/teams", json={"code": "ARG", "name": "x" * 201}), "name")
    code, out = cli(env, "match", "news", "--after", "1", "--timeout", "3600")
    assert code == 2 and "timeout" in out
    code, out = cli(env, "match", "simulate", "--matches", "1000000")
    assert code == 2 and "matches" in out


def test_a_bad_cursor_is_refused(http: TestClient) -> None:
    http.post(f"/portfolios/{P}/deposits", json={"amount": "1"})
    refused(http.get(f"/portfolios/{P}/events", params={"cursor": "bm9wZQ"}), "cursor")
    other = http.get("/masterdata/audit", params={"limit": 1}).json()["next_cursor"]
    assert other is None
    refused(http.get(f"/portfolios/{P}/events", params={"cursor": "e30"}), "cursor")


def test_pagination_walks_every_entry_exactly_once(http: TestClient) -> None:
    for n in range(1, 24):
        assert http.post(f"/portfolios/{P}/deposits", json={"amount": str(n)}).status_code == 201
        put = {"attributes": {"name": f"C{n}"}}
        assert http.put(f"/masterdata/customer/C{n % 3}", json=put).status_code == 200
    for path, total in ((f"/portfolios/{P}/events", 23), ("/masterdata/audit", 23)):
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 5, **({"cursor": cursor} if cursor else {})}
            page = http.get(path, params=params).json()
            seen += [json.dumps(item, sort_keys=True) for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == total and len(set(seen)) == total and pages == 5


def test_nul_characters_and_huge_bodies_are_refused_before_any_route(http: TestClient) -> None:
    nul = '{"name": "a\\u0000b", "lat": 1, "lon": 1}'
    headers = {"content-type": "application/json"}
    refused(http.put("/food/restaurants/r1", content=nul, headers=headers), "body")
    refused(http.get("/masterdata/audit", params={"key": "a\x00b"}), "path")
    huge = http.post("/design", content=b"{" + b" " * (2 * 1024 * 1024) + b"}", headers=headers)
    assert huge.status_code == 413 and huge.headers["content-type"] == "application/problem+json"


def test_cli_integers_are_ascii_digits(env: dict[str, str]) -> None:
    code, out = cli(env, "food", "recommend", "u1", "--limit", "\u0663")  # ARABIC-INDIC DIGIT THREE
    assert code == 2 and "ASCII" in out
    code, out = cli(env, "portfolio", "state", P, "--at-version", "\u0661")
    assert code == 2 and "ASCII" in out
