"""No anonymous access over HTTP: keys, roles, the tenant and audit actor they give, the rate limit, the OpenAPI."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from datastrata.api import create_app
from datastrata.core.config import Settings
from datastrata.core.errors import ValidationError
from datastrata.security.auth import PUBLIC, AuthConfig
from datastrata.security.keys import KeyStore, key_store
from datastrata.tenancy.catalogue import catalogue_of
from tests.conftest import ApiClient

P = "p-1"


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    """The whole app on a SQLite file, without its worker."""
    return create_app(Settings(store=f"sqlite:///{tmp_path / 'auth.db'}"), worker=False)


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    """A started app's client that sends no key."""
    with TestClient(app) as http:
        yield http


def keys(app: FastAPI) -> KeyStore:
    runtime = app.state.runtime
    return KeyStore(runtime.db, clock=runtime.clock)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_unauthorized(response: object, secret: str = "") -> None:
    from httpx import Response

    assert isinstance(response, Response)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "unauthorized"
    if secret:
        assert secret not in response.text


def test_no_malformed_unknown_revoked_or_expired_key_is_401(app: FastAPI, anonymous: TestClient) -> None:
    store = keys(app)
    assert_unauthorized(anonymous.get(f"/portfolios/{P}"))
    assert_unauthorized(anonymous.get(f"/portfolios/{P}", headers={"Authorization": "Basic dXNlcjpwYXNz"}))
    assert_unauthorized(anonymous.get(f"/portfolios/{P}", headers=bearer("hunter2-secret")), "hunter2-secret")
    key, text = store.create(role="admin")
    wrong = f"{key.key_id}.{'x' * 43}"
    assert_unauthorized(anonymous.get(f"/portfolios/{P}", headers=bearer(wrong)), "x" * 43)
    assert anonymous.get(f"/portfolios/{P}", headers=bearer(text)).status_code == 404  # in, and no such portfolio
    store.revoke(key.key_id)
    assert_unauthorized(anonymous.get(f"/portfolios/{P}", headers=bearer(text)), text.split(".")[1])
    past = app.state.runtime.clock() - timedelta(hours=2)
    expiring = KeyStore(app.state.runtime.db, clock=lambda: past)
    _, expired = expiring.create(role="admin", expires_at=past + timedelta(hours=1))
    refused = anonymous.get(f"/portfolios/{P}", headers=bearer(expired))
    assert_unauthorized(refused, expired.split(".")[1])
    assert "expired" in refused.json()["detail"]


def test_every_route_but_the_public_ones_needs_a_key(app: FastAPI, anonymous: TestClient) -> None:
    checked = 0
    for template, operations in anonymous.get("/openapi.json").json()["paths"].items():
        if template in PUBLIC:
            continue
        path = re.sub(r"\{[^}]+\}", "x", template)
        for method in operations:
            assert_unauthorized(anonymous.request(method, path, json={}))
            checked += 1
    assert checked > 40
    assert anonymous.get("/health").status_code == 200
    assert anonymous.get("/ready").status_code == 200 and anonymous.get("/metrics").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200


def test_viewer_reads_but_cannot_write_and_editor_cannot_run_operator_actions(
    app: FastAPI, api_client: ApiClient
) -> None:
    with api_client(app) as admin:
        store = keys(app)
        _, viewer = store.create(role="viewer")
        _, editor = store.create(role="editor")
        assert admin.post(f"/portfolios/{P}/deposits", json={"amount": "100"}).status_code == 201
        assert admin.get(f"/portfolios/{P}", headers=bearer(viewer)).json()["cash"] == "100.00"
        spec = {"system": "S", "contexts": [{"name": "orders", "entities": [{"name": "order"}]}]}
        assert admin.post("/design", json=spec, headers=bearer(viewer)).status_code != 403  # computes, writes nothing
        denied = admin.post(f"/portfolios/{P}/withdrawals", json={"amount": "100"}, headers=bearer(viewer))
        assert denied.status_code == 403 and denied.headers["content-type"] == "application/problem+json"
        assert "editor" in denied.json()["detail"]
        assert admin.put("/food/users/A", json={"lat": 1, "lon": 2}, headers=bearer(viewer)).status_code == 403
        assert (
            admin.post(f"/portfolios/{P}/withdrawals", json={"amount": "40"}, headers=bearer(editor)).status_code == 201
        )
        for path in ("/match/rebuild", "/masterdata/verify", "/masterdata/activate"):
            refused = admin.post(path, json={}, headers=bearer(editor))
            assert refused.status_code == 403 and "admin" in refused.json()["detail"], path
        assert admin.get("/deadletters", headers=bearer(editor)).status_code == 403
        assert admin.get("/deadletters").status_code == 200
        assert admin.post("/match/rebuild", json={}).status_code == 202
        assert admin.get(f"/portfolios/{P}").json()["cash"] == "60.00"


def test_the_audit_actor_of_a_masterdata_put_is_the_key_id(app: FastAPI, api_client: ApiClient) -> None:
    with api_client(app, "editor") as http:
        key_id = http.headers["Authorization"].removeprefix("Bearer ").split(".")[0]
        put = http.put("/masterdata/customer/C9", json={"attributes": {"name": "Ann"}, "reason": "new"})
        assert put.status_code == 200, put.text
        (entry,) = http.get("/masterdata/audit", params={"key": "C9"}).json()["items"]
        assert entry["actor"] == key_id
        forged = http.put("/masterdata/customer/C9", json={"attributes": {"name": "Bo"}, "actor": "the-ceo"})
        assert forged.status_code == 422 and "API key" in forged.json()["detail"]


def test_the_request_runs_in_the_tenant_of_its_key(app: FastAPI, api_client: ApiClient) -> None:
    with api_client(app) as http:
        runtime = app.state.runtime
        with pytest.raises(ValidationError, match="not in the catalogue"):  # a key of an unknown tenant is refused
            key_store(runtime).create(role="admin", tenant="acme")
        catalogue_of(runtime).add("acme", "indie")
        _, key = key_store(runtime).create(role="editor", tenant="acme")
        http.headers["Authorization"] = f"Bearer {key}"
        assert http.post(f"/portfolios/{P}/deposits", json={"amount": "5"}).status_code == 201
        with runtime.db.read() as tx:
            assert tx.query("SELECT tenant_id FROM eventlog_events") == [("acme",)]


def test_a_key_past_its_burst_gets_429_with_retry_after_and_others_go_on(tmp_path: Path, api_client: ApiClient) -> None:
    app = create_app(
        Settings(store=f"sqlite:///{tmp_path / 'rate.db'}"), worker=False, auth=AuthConfig(rate=0.2, burst=3)
    )
    with api_client(app) as http:
        _, other = keys(app).create(role="viewer")
        codes = [http.get(f"/portfolios/{P}").status_code for _ in range(4)]
        assert codes == [404, 404, 404, 429]
        limited = http.get(f"/portfolios/{P}")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.headers["content-type"] == "application/problem+json"
        assert http.get(f"/portfolios/{P}", headers=bearer(other)).status_code == 404  # its own bucket
        assert http.get("/health").status_code == 200  # probes are not limited


def test_the_openapi_declares_the_bearer_scheme_on_every_protected_operation(anonymous: TestClient) -> None:
    spec = anonymous.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "ak_<id>.<secret>",
        "description": "An API key from `datastrata keys create`, sent as `Authorization: Bearer <key>`.",
    }
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            expected = [] if path in PUBLIC else [{"apiKey": []}]
            assert operation.get("security", []) == expected, (method, path)
            if path not in PUBLIC:
                assert {"401", "429"} <= set(operation["responses"]), (method, path)
    assert "403" in spec["paths"]["/match/rebuild"]["post"]["responses"]


def test_insecure_local_serves_without_keys_as_the_local_admin(tmp_path: Path) -> None:
    app = create_app(
        Settings(store=f"sqlite:///{tmp_path / 'local.db'}"), worker=False, auth=AuthConfig(insecure_local=True)
    )
    with TestClient(app) as http:
        assert http.post(f"/portfolios/{P}/deposits", json={"amount": "1"}).status_code == 201
        put = http.put("/masterdata/customer/C1", json={"attributes": {"name": "Ann"}})
        assert put.status_code == 200
        assert http.get("/masterdata/audit").json()["items"][0]["actor"] == "local"
