"""The master-data system through the shell and HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import typer
from typer.testing import CliRunner

from datastrata.api import create_app
from datastrata.core.config import Settings
from datastrata.shell import ShellGroup
from datastrata.systems.masterdata.api import router
from datastrata.systems.masterdata.cli import app as masterdata_app
from tests.conftest import ApiClient, finished_job

root = typer.Typer(cls=ShellGroup, no_args_is_help=True, pretty_exceptions_enable=False)
root.add_typer(masterdata_app, name="masterdata")
runner = CliRunner()


def cli(store: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(root, ["masterdata", "--store", store, *args])
    return result.exit_code, result.stdout, result.stderr


def ok(store: str, *args: str) -> Any:
    code, out, err = cli(store, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_time_travel_and_downstream_via_cli(store_url: str) -> None:
    first = ok(
        store_url,
        "put", "customer", "C1",
        "--set", "name=Alice", "--set", "address=Tokyo", "--set", "email=a@example.com",
        "--set", "credit_tier=gold",
        "--valid-from", "2024-01-01T00:00:00Z", "--actor", "onboarding", "--reason", "new customer",
    )  # fmt: skip
    assert first["in_effect"] is True and first["duplicate"] is False
    ok(store_url, "put", "customer", "C1", "--set", "name=Alice Tanaka", "--set", "address=Tokyo",
       "--valid-from", "2024-06-01T00:00:00Z", "--actor", "support", "--reason", "name change")  # fmt: skip
    assert ok(store_url, "get", "customer", "C1")["attributes"] == {"name": "Alice Tanaka", "address": "Tokyo"}
    then = ok(store_url, "get", "customer", "C1", "--as-of", "2024-07-01T00:00:00Z",
              "--as-known-at", first["recorded_at"])  # fmt: skip
    assert then["attributes"]["name"] == "Alice"
    assert ok(store_url, "get", "customer", "C1", "--as-of", "2024-07-01T00:00:00Z")["attributes"]["name"] == (
        "Alice Tanaka"
    )
    assert len(ok(store_url, "history", "customer", "C1")) == 3
    audit = ok(store_url, "audit", "--key", "C1", "--actor", "support")
    assert [(a["action"], a["reason"]) for a in audit] == [("put", "name change")]
    assert len(ok(store_url, "audit", "--since", "2000-01-01T00:00:00Z")) == 2
    # The write commands delivered to the downstream copies before exiting.
    (held,) = ok(store_url, "downstream", "customer", "C1")
    assert held["copy"]["attributes"]["name"] == "Alice Tanaka"
    assert held["derived"] == {"credit_limit": "500", "risk_rating": "high"}
    ok(store_url, "put", "supplier", "S1", "--set", "name=Acme", "--set", "payment_terms_days=45")
    assert ok(store_url, "downstream", "supplier", "S1")[0]["derived"]["net_days"] == 45
    assert ok(store_url, "activate") == []
    assert ok(store_url, "verify") == []
    assert ok(store_url, "alerts") == []
    retired = ok(store_url, "retire", "customer", "C1", "--actor", "support", "--reason", "closed")
    assert retired["action"] == "retire"
    code, _, err = cli(store_url, "get", "customer", "C1")
    assert code == 2 and "no version valid now" in err and "history" in err
    code, out, _ = cli(store_url, "get", "customer", "C1", "--as-of", "2024-07-01T00:00:00Z")
    assert code == 0 and "name: Alice Tanaka" in out


def test_cli_refusals_name_the_field_and_exit_2(sqlite_url: str) -> None:
    for args, expected in (
        (["put", "customer", "C1", "--set", "name"], "--set takes name=value"),
        (["put", "customer", "C1", "--set", "nickname=Al"], "no field 'nickname'"),
        (["put", "customer", "C1", "--set", "name=A", "--set", "email=x"], "email address"),
        (["put", "supplier", "S1", "--set", "name=A", "--set", "payment_terms_days=soon"], "whole number"),
        (["put", "planet", "X", "--set", "name=A"], "unknown entity type 'planet'"),
        (["put", "customer", "C1", "--set", "name=A", "--valid-from", "tomorrow"], "ISO-8601"),
        (["history", "customer", "ghost"], "never recorded"),
        (["alerts", "--kind", "panic"], "alert kind"),
        (["downstream", "planet", "X"], "unknown entity type"),
    ):
        code, out, err = cli(sqlite_url, *args)
        assert code == 2, (args, out, err)
        assert expected in err and "Traceback" not in err + out, (args, err)


def test_every_command_has_help() -> None:
    import typer.main

    group = typer.main.get_command(root)
    for name in group.commands["masterdata"].commands:  # type: ignore[attr-defined]
        result = runner.invoke(root, ["masterdata", name, "--help"])
        assert result.exit_code == 0, name
        assert len(result.stdout.strip().splitlines()) > 3, name


def test_the_same_story_via_http(store_url: str, api_client: ApiClient) -> None:
    app = create_app(Settings(store=store_url), worker=False)
    app.include_router(router)
    with api_client(app) as http:
        put = http.put(
            "/masterdata/customer/C1",
            json={
                "attributes": {"name": "Alice", "credit_tier": "gold", "email": "a@b.co", "address": "Tokyo"},
                "valid_from": "2024-01-01T00:00:00Z",
            },
        )
        assert put.status_code == 200, put.text
        first = put.json()
        assert (
            http.put(
                "/masterdata/customer/C1",
                json={"attributes": {"name": "Alice Tanaka"}, "valid_from": "2024-06-01T00:00:00Z"},
            ).status_code
            == 200
        )
        assert http.get("/masterdata/customer/C1").json()["attributes"] == {"name": "Alice Tanaka"}
        then = http.get(
            "/masterdata/customer/C1",
            params={"as_of": "2024-07-01T00:00:00Z", "as_known_at": first["recorded_at"]},
        )
        assert then.json()["attributes"]["name"] == "Alice"
        assert len(http.get("/masterdata/customer/C1/history").json()["items"]) == 3
        key_id = http.headers["Authorization"].removeprefix("Bearer ").split(".")[0]
        audit = http.get("/masterdata/audit", params={"key": "C1"}).json()["items"]
        assert [a["actor"] for a in audit] == [key_id, key_id]  # the audit actor is the caller's API key
        assert http.post("/masterdata/activate").json() == []
        # No worker here: verify delivers what waits first, so the copies are in sync and nothing drifted.
        verified = finished_job(http, http.post("/masterdata/verify"))
        assert verified["state"] == "succeeded" and verified["kind"] == "verify" and verified["result"] == []
        (held,) = http.get("/masterdata/customer/C1/downstream").json()
        assert held["copy"]["attributes"] == {"name": "Alice Tanaka"}
        assert http.get("/masterdata/alerts").json()["items"] == []
        retire = http.post("/masterdata/customer/C1/retire", json={"reason": "closed"})
        assert retire.status_code == 200 and retire.json()["action"] == "retire"
        missing = http.get("/masterdata/customer/C1")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        bad = http.put("/masterdata/product/P1", json={"attributes": {"name": "Kettle"}})
        assert bad.status_code == 422 and bad.json()["field"] == "sku"
        naive = http.get("/masterdata/customer/C1", params={"as_of": "2024-07-01T00:00:00"})
        assert naive.status_code == 422 and naive.json()["field"] == "as_of"
        forged = http.put("/masterdata/customer/C1", json={"attributes": {"name": "A"}, "actor": "someone else"})
        assert forged.status_code == 422 and "remove 'actor'" in forged.json()["detail"]
