"""``/tenants`` over HTTP: the platform operator catalogues tenants, changes tiers and makes or revokes their keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from datastrata.api import create_app
from datastrata.core.config import Settings
from datastrata.security.keys import key_store
from tests.conftest import ApiClient


@pytest.fixture
def operator(store_url: str, tmp_path: Path, api_client: ApiClient) -> Iterator[TestClient]:
    """The platform operator's client (an admin key of ``default``) on a fresh store of each engine."""
    app = create_app(Settings(store=store_url, graph=f"ladybug:///{tmp_path}/graph"), worker=False)
    with api_client(app, "admin") as http:
        yield http


def test_the_operator_catalogues_lists_and_shows_tenants(operator: TestClient) -> None:
    for who in ("beta", "acme", "gamma"):
        added = operator.post("/tenants", json={"tenant": who, "tier": "indie"})
        assert added.status_code == 201, added.text
    assert added.json()["model"] == "shared" and added.json()["location"] is None
    first = operator.get("/tenants", params={"limit": 2}).json()
    rest = operator.get("/tenants", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [t["tenant"] for t in first["items"] + rest["items"]] == ["acme", "beta", "gamma"]
    assert rest["next_cursor"] is None
    shown = operator.get("/tenants/acme").json()
    assert (shown["tier"], shown["usage"]["quota"], shown["monthly_usd"]) == ("indie", "1 TB", 500)
    changed = operator.put("/tenants/acme/tier", json={"tier": "enterprise"})
    assert changed.status_code == 200 and changed.json()["usage"]["quota"] == "unlimited"


def test_bad_input_gets_a_problem_naming_the_field_and_writes_nothing(operator: TestClient) -> None:
    for body, status, says in (
        ({"tenant": "acme", "tier": "gold"}, 422, "tier must be one of"),
        ({"tenant": "Not Valid", "tier": "indie"}, 422, "tenant_id must be"),
        ({"tenant": "acme", "tier": "indie", "plan": "x"}, 422, "plan"),
        ({"tenant": "acme", "tier": "indie", "store": "sqlite:///x.db"}, 422, "drop --store"),
    ):
        answer = operator.post("/tenants", json=body)
        assert answer.status_code == status and says in answer.text, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert operator.get("/tenants").json()["items"] == []
    missing = operator.get("/tenants/nobody")
    assert missing.status_code == 404 and missing.json()["field"] == "id"
    assert operator.post("/tenants", json={"tenant": "acme", "tier": "indie"}).status_code == 201
    assert operator.post("/tenants", json={"tenant": "acme", "tier": "indie"}).status_code == 409


def test_keys_of_a_tenant_are_made_and_revoked_under_it(operator: TestClient) -> None:
    for who in ("acme", "beta"):
        operator.post("/tenants", json={"tenant": who, "tier": "indie"})
    made = operator.post("/tenants/acme/keys", json={"role": "editor", "note": "ci"})
    assert made.status_code == 201 and made.json()["tenant"] == "acme"
    key = made.json()
    tenant_client = TestClient(operator.app)
    tenant_client.headers["Authorization"] = f"Bearer {key['key']}"
    assert tenant_client.post("/portfolios/p1/deposits", json={"amount": "1"}).status_code == 201
    elsewhere = operator.delete(f"/tenants/beta/keys/{key['key_id']}")
    assert elsewhere.status_code == 404  # not beta's key
    assert operator.post("/tenants/nobody/keys", json={"role": "viewer"}).status_code == 422
    revoked = operator.delete(f"/tenants/acme/keys/{key['key_id']}")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert tenant_client.get("/portfolios/p1").status_code == 401
    runtime = operator.app.state.runtime  # type: ignore[attr-defined]
    assert [k.state(runtime.clock()) for k in key_store(runtime).list(tenant="acme")] == ["revoked"]
