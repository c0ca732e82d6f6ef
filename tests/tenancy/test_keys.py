"""Tenant-bound keys: only for catalogued tenants; the key's tenant sets the scope; per-tier rates; own jobs only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from datastrata.api import create_app
from datastrata.core.config import Settings
from datastrata.core.errors import ValidationError
from datastrata.core.tenancy import tenant
from datastrata.runtime.jobs import jobs_of
from datastrata.security.keys import key_store
from datastrata.tenancy.catalogue import catalogue_of
from datastrata.tenancy.tiers import TIERS


@pytest.fixture
def app(store_url: str, tmp_path: Path) -> Iterator[FastAPI]:
    """The whole app on a fresh store of each engine, with tenants acme and beta (indie) catalogued."""
    app = create_app(Settings(store=store_url, graph=f"ladybug:///{tmp_path}/graph"), worker=False)
    with TestClient(app):
        for who in ("acme", "beta"):
            catalogue_of(app.state.runtime).add(who, "indie")
        yield app


def client(app: FastAPI, who: str, role: str = "admin") -> TestClient:
    """A client of the started `app` sending a new key of tenant `who`."""
    _, key = key_store(app.state.runtime).create(role=role, tenant=who)
    http = TestClient(app)
    http.headers["Authorization"] = f"Bearer {key}"
    return http


def test_keys_are_made_only_for_catalogued_tenants(app: FastAPI) -> None:
    store = key_store(app.state.runtime)
    with pytest.raises(ValidationError, match="tenant 'nobody' is not in the catalogue") as refused:
        store.create(role="viewer", tenant="nobody")
    assert refused.value.field == "tenant" and "tenants add nobody" in refused.value.message
    key, _ = store.create(role="viewer", tenant="acme")
    assert key.tenant == "acme" and [k.key_id for k in store.list(tenant="acme")] == [key.key_id]
    catalogue_of(app.state.runtime).set_state("beta", "offboarded")
    with pytest.raises(ValidationError, match="offboarded"):
        store.create(role="viewer", tenant="beta")


def test_the_keys_tenant_sets_the_scope_and_no_tenant_is_needed_over_http(app: FastAPI) -> None:
    acme = client(app, "acme", "editor")
    assert acme.post("/portfolios/p1/deposits", json={"amount": "5"}).status_code == 201
    with app.state.runtime.db.read() as tx:
        assert tx.query("SELECT tenant_id FROM eventlog_events") == [("acme",)]


def test_a_key_of_an_offboarded_tenant_is_refused_with_401(app: FastAPI) -> None:
    beta = client(app, "beta", "viewer")
    assert beta.get("/portfolios/p1").status_code == 404
    catalogue_of(app.state.runtime).set_state("beta", "offboarded")
    refused = beta.get("/portfolios/p1")
    assert refused.status_code == 401 and "no longer served" in refused.json()["detail"]


def test_another_tenants_job_is_a_404_that_names_nothing_of_it(app: FastAPI) -> None:
    with tenant("acme"):
        job = jobs_of(app.state.runtime).create("export", "acme-secret-report")
    acme, beta, platform = client(app, "acme"), client(app, "beta"), client(app, "default")
    assert acme.get(f"/jobs/{job.id}").json()["tenant"] == "acme"
    hidden = beta.get(f"/jobs/{job.id}")
    assert hidden.status_code == 404 and "acme" not in hidden.text and "export" not in hidden.text
    assert beta.get("/jobs").json()["items"] == []
    assert [j["id"] for j in acme.get("/jobs").json()["items"]] == [job.id]
    assert [j["id"] for j in platform.get("/jobs").json()["items"]] == [job.id]  # the operator sees every tenant


def test_areas_spanning_every_tenant_are_for_the_platform_operator_only(app: FastAPI) -> None:
    acme = client(app, "acme")
    for method, path in (("get", "/deadletters"), ("post", "/rebuild/portfolio"), ("get", "/tenants")):
        answer = acme.request(method.upper(), path)
        assert answer.status_code == 403, (path, answer.text)
        assert "platform operator" in answer.json()["detail"]
    assert client(app, "default").get("/tenants").status_code == 200
    assert client(app, "default", "editor").get("/tenants").status_code == 403  # an admin, not an editor


def test_each_tenant_gets_its_tiers_rate_shared_by_its_keys(app: FastAPI) -> None:
    burst = TIERS["indie"].burst
    app.state.rate_limiter.clock = lambda: 0.0  # time stands still: no token comes back during the test
    first, second, other = client(app, "acme", "viewer"), client(app, "acme", "viewer"), client(app, "beta", "viewer")
    codes = [(first if i % 2 else second).get("/portfolios/p1").status_code for i in range(burst + 1)]
    assert codes[:burst] == [404] * burst and codes[burst] == 429  # two keys, one bucket: the tenant's
    refused = second.get("/portfolios/p1")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "tenant acme (indie)" in refused.json()["detail"]
    assert other.get("/portfolios/p1").status_code == 404  # another tenant's bucket is its own
