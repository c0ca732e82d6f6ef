"""`tenants offboard`: refused without a complete export; afterwards nothing of the tenant remains, others untouched."""

from __future__ import annotations

import base64
import itertools
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from datastrata.api import create_app
from datastrata.cli import app as cli
from datastrata.core.config import Settings
from datastrata.core.errors import NotFound, RuleViolation
from datastrata.core.tenancy import DEFAULT_TENANT, platform, tenant
from datastrata.runtime import Runtime
from datastrata.runtime.jobs import jobs_of
from datastrata.runtime.location import Location, LocationSpec
from datastrata.security.keys import key_store
from datastrata.stores.tables import tenant_tables
from datastrata.systems.food.service import FoodService
from datastrata.systems.masterdata.service import MasterDataService
from datastrata.tenancy.catalogue import catalogue_of
from datastrata.tenancy.export import export_tenant, record_scope
from datastrata.tenancy.grants import Grants
from datastrata.tenancy.models import PROVISIONERS
from datastrata.tenancy.offboard import STEP, TENANT_OFFBOARDED, offboard_tenant
from datastrata.tenancy.secrets import KEY_VARIABLE
from datastrata.testing.servers import create_database
from datastrata.tiering.objects import ObjectStore

_names = itertools.count()
#: One tenant per model, and one shared tenant that stays.
TIERS = {"acme": "indie", "bridged": "professional", "siloed": "enterprise", "globex": "indie"}


@pytest.fixture
def settings(home_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The home store with a graph and objects; the platform key set (dedicated tenants' URLs are sealed)."""
    monkeypatch.setenv(KEY_VARIABLE, base64.urlsafe_b64encode(bytes(range(32))).decode())
    return Settings(store=home_url, graph=f"ladybug:///{tmp_path / 'graph'}", objects=f"file://{tmp_path / 'objects'}")


@pytest.fixture
def runtime(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """A runtime on the home store (waiting two cache times of 10 ms for other processes to see a state)."""
    with Runtime.open(settings) as opened:
        monkeypatch.setattr(opened.tenants, "ttl", 0.01)
        yield opened


def _catalogued(runtime: Runtime, *tenants: str) -> None:
    """Catalogue `tenants` in their tiers, each with food, master data, an API key and an object."""
    catalogue = catalogue_of(runtime)
    food = runtime.service("food", FoodService)
    masterdata = runtime.service("masterdata", MasterDataService)
    for who in tenants:
        catalogue.add(who, TIERS[who])
        with tenant(who):
            food.add_user("aiko", lat=35.5, lon=139.0)
            food.add_restaurant("r1", name="Sushi", address="1 Ginza", lat=35.6, lon=139.7, cuisines=["sushi"])
            masterdata.put("customer", "C1", {"name": f"Aiko of {who}", "email": "aiko@example.com"}, actor="t")
        key_store(runtime).create(role="viewer", tenant=who)
        _objects(_location(runtime, who)).put(f"tenants/{who}/photos/a.jpg", who.encode())


def _location(runtime: Runtime, who: str) -> Location:
    spec = runtime.tenants.placement(who).spec
    return runtime.home if spec is None else runtime.location(spec)


def _objects(location: Location) -> ObjectStore:
    return ObjectStore(location.spec.objects)


def _counts(location: Location, who: str) -> dict[str, int]:
    with platform(), location.db.read() as tx:
        return {t: int(tx.scalar(f"SELECT COUNT(*) FROM {t} WHERE tenant_id = ?", (who,))) for t in tenant_tables(tx)}


def _exists(runtime: Runtime, spec: LocationSpec) -> bool:
    """Whether a tenant's own place is still there: its file or folder, its schema or database."""
    if spec.store.startswith("sqlite"):
        return Path(spec.store.split("///", 1)[1].split("?", 1)[0]).exists()
    home = runtime.home.spec.store
    with psycopg.connect(home, autocommit=True) as conn:
        if spec.namespace is not None:
            return (
                conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (spec.namespace,)).fetchone() is not None
            )
        name = spec.store.rsplit("/", 1)[1].split("?", 1)[0]
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def test_offboarding_is_refused_without_a_fresh_export_for_default_unknown_and_moving_tenants(
    runtime: Runtime, tmp_path: Path
) -> None:
    _catalogued(runtime, "acme", "globex")
    with pytest.raises(RuleViolation, match="has no export"):
        offboard_tenant(runtime, "acme")
    export_tenant(runtime, "acme", tmp_path / "first")
    with tenant("acme"):
        runtime.service("food", FoodService).add_user("ben", lat=1.0, lon=2.0)
    with pytest.raises(RuleViolation, match=r"events after its export .* export again"):
        offboard_tenant(runtime, "acme")
    with pytest.raises(RuleViolation, match="platform's records"):
        offboard_tenant(runtime, DEFAULT_TENANT)
    with pytest.raises(NotFound):
        offboard_tenant(runtime, "initech")
    catalogue_of(runtime).set_state("globex", "moving")
    export_tenant(runtime, "globex", tmp_path / "globex")
    with pytest.raises(RuleViolation, match="is moving"):
        offboard_tenant(runtime, "globex")
    assert _counts(runtime.home, "acme")["food_users"] == 2  # nothing was deleted
    assert catalogue_of(runtime).get("acme").state == "active"


def test_a_shared_a_bridge_and_a_silo_tenant_leave_nothing_and_the_other_tenant_is_untouched(
    runtime: Runtime, tmp_path: Path
) -> None:
    _catalogued(runtime, *TIERS)
    grants = runtime.service("tenancy.grants", Grants)
    later = datetime.now(UTC) + timedelta(days=30)
    given = grants.allow("acme", "globex", "footage-1", "footage:read", later)
    kept = grants.allow("globex", "acme", "status-1", "status:read", later)
    globex_rows = _counts(runtime.home, "globex")
    globex_events = [e.to_dict() for e in runtime.log.read_all() if e.tenant_id == "globex"]
    own = {who: runtime.tenants.placement(who).spec for who in ("bridged", "siloed")}
    catalogue = catalogue_of(runtime)
    for who in ("acme", "bridged", "siloed"):
        where = "main" if who == "acme" else own[who].name  # type: ignore[union-attr]
        with tenant(who):
            held = _location(runtime, who).log.tenant_page(who).events
        export_tenant(runtime, who, tmp_path / who)
        done = offboard_tenant(runtime, who, actor="ops")
        assert (who, len(held)) == (who, 3) and (
            len(held) == 3
            and done.events[where] == 3
            and done.rows[f"{where}/food_users"] == 1
            and done.objects[where] == 1
        )
        assert done.rows["main/security_api_keys"] == 1  # its key, kept in the home store
        assert catalogue.get(who).state == "offboarded" and catalogue.get(who).location is None
        actions = [e.action for e in catalogue.audit(who)]
        assert actions[-1] == "set_state" and STEP in actions and catalogue.audit(who)[-1].detail["to"] == "offboarded"
        records = runtime.stream(record_scope(who))
        assert records[-1].type == TENANT_OFFBOARDED and records[-1].tenant_id == DEFAULT_TENANT
        left = {t: n for t, n in _counts(runtime.home, who).items() if n}
        assert left == {"tenancy_tenants": 1, "tenancy_audit": len(actions)}  # the platform's record of it, only
        assert [o.key for o in _objects(runtime.home).list("tenants/") if not o.key.startswith("tenants/globex/")] == []
    for who, spec in own.items():
        assert spec is not None and not _exists(runtime, spec), who  # schema or file, database or folder: gone
    assert [e for e in runtime.log.read_all() if e.tenant_id in ("acme", "bridged", "siloed")] == []
    assert _counts(runtime.home, "globex") == globex_rows
    assert [g.id for g in grants.list_for("globex")] == [kept.id] != [given.id]  # acme's grant went, globex's stays
    assert [e.to_dict() for e in runtime.log.read_all() if e.tenant_id == "globex"] == globex_events
    assert [o.key for o in _objects(runtime.home).list("tenants/")] == ["tenants/globex/photos/a.jpg"]
    with tenant("globex"):
        assert runtime.service("masterdata", MasterDataService).get("customer", "C1").attributes["name"] == (
            "Aiko of globex"
        )
    with tenant("bridged"):  # reads of an offboarded tenant find nothing; its writes are refused
        with pytest.raises(NotFound):
            runtime.service("masterdata", MasterDataService).get("customer", "C1")
        with pytest.raises(NotFound, match="was offboarded"):
            runtime.service("food", FoodService).add_user("new", lat=1.0, lon=1.0)
    again = offboard_tenant(runtime, "acme")  # finished: the recorded result, nothing else
    assert again.events == {"main": 3} and catalogue.audit("acme")[-1].detail["to"] == "offboarded"


def test_an_interrupted_offboarding_refuses_writes_and_running_it_again_finishes(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _catalogued(runtime, "bridged", "globex")
    spec = runtime.tenants.placement("bridged").spec
    assert spec is not None
    export_tenant(runtime, "bridged", tmp_path / "bridged")
    real = PROVISIONERS["dedicated-storage"]

    class Crashing:
        def provision(self, runtime: Runtime, tenant: str, *, store: str | None = None) -> LocationSpec | None:
            raise AssertionError("not provisioned here")

        def destroy(self, runtime: Runtime, tenant: str, spec: LocationSpec | None) -> None:
            raise RuntimeError("killed between the home location and the tenant's own")

    monkeypatch.setitem(PROVISIONERS, "dedicated-storage", Crashing())
    with pytest.raises(RuntimeError, match="killed"):
        offboard_tenant(runtime, "bridged")
    catalogue = catalogue_of(runtime)
    assert catalogue.get("bridged").state == "offboarding"
    assert _counts(runtime.home, "bridged")["security_api_keys"] == 0  # the home step is done
    runtime.tenants.invalidate()
    with tenant("bridged"), pytest.raises(RuleViolation, match="being offboarded"):
        runtime.service("food", FoodService).add_user("late", lat=1.0, lon=1.0)
    steps = [e.detail["step"] for e in catalogue.audit("bridged") if e.action == STEP]
    assert steps == ["deleted", "deleted"]  # home, and the bridge location counted before its destroy

    monkeypatch.setitem(PROVISIONERS, "dedicated-storage", real)
    done = offboard_tenant(runtime, "bridged")
    assert done.destroyed == (spec.name,) and done.events[spec.name] == 3 and not _exists(runtime, spec)
    steps = [e.detail["step"] for e in catalogue.audit("bridged") if e.action == STEP]
    assert steps == ["deleted", "deleted", "destroyed"]  # nothing done twice
    assert [e.type for e in runtime.stream(record_scope("bridged"))].count(TENANT_OFFBOARDED) == 1


def test_the_shared_graph_drops_the_offboarded_tenants_nodes(runtime: Runtime, tmp_path: Path) -> None:
    _catalogued(runtime, "acme", "globex", "bridged")
    food = runtime.service("food", FoodService)
    food.catch_up()

    def users() -> list[str]:
        return sorted(str(r["id"]) for r in food.graph.store.query("MATCH (n:User) RETURN n.id AS id"))

    assert users() == ["acme\x1faiko", "globex\x1faiko"]  # the dedicated tenants' graphs are their own
    export_tenant(runtime, "acme", tmp_path / "acme")
    offboard_tenant(runtime, "acme")
    food.catch_up()
    assert users() == ["globex\x1faiko"]
    assert not food.graph.store.query("MATCH (n) WHERE starts_with(n.id, 'acme') RETURN n.id AS id")


def _finished(http: TestClient, location: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while (job := http.get(location).json())["state"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return dict(job)


def test_offboarding_over_http_is_an_operators_job_and_the_tenants_keys_stop_working(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings, worker=False)
    with TestClient(app) as http:
        runtime: Runtime = app.state.runtime
        monkeypatch.setattr(runtime.tenants, "ttl", 0.01)
        catalogue = catalogue_of(runtime)
        for who in ("acme", "globex"):
            catalogue.add(who, "indie")
        _, operator_key = key_store(runtime).create(role="admin")
        _, acme_key = key_store(runtime).create(role="admin", tenant="acme")
        http.headers["Authorization"] = f"Bearer {operator_key}"
        acme = TestClient(app, headers={"Authorization": f"Bearer {acme_key}"})
        assert acme.post("/portfolios/p1/deposits", json={"amount": "5"}).status_code == 201
        assert acme.post("/tenants/globex/offboard").status_code == 403  # operators only
        for who, status, says in (
            ("acme", 409, "has no export"),
            ("default", 409, "platform's records"),
            ("nobody", 404, "no tenant"),
        ):
            refused = http.post(f"/tenants/{who}/offboard")
            assert refused.status_code == status and says in refused.json()["detail"], refused.text
        export_tenant(runtime, "acme", tmp_path / "acme")
        started = http.post("/tenants/acme/offboard")
        assert started.status_code == 202, started.text
        job = _finished(http, started.headers["Location"])
        assert job["state"] == "succeeded" and job["result"]["events"] == {"main": 1}, job
        assert acme.get("/portfolios/p1").status_code == 401  # its key went with it
        assert http.get("/tenants/acme").json()["state"] == "offboarded"
        with tenant("acme"):
            assert jobs_of(runtime).get(started.json()["id"]).state == "succeeded"  # the operator's job stays


def test_tenants_offboard_on_the_command_line(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATASTRATA_STORE", settings.store)
    runner = CliRunner()
    assert runner.invoke(cli, ["tenants", "add", "acme", "--tier", "indie"]).exit_code == 0
    assert runner.invoke(cli, ["--tenant", "acme", "portfolio", "deposit", "P", "10"]).exit_code == 0
    refused = runner.invoke(cli, ["tenants", "offboard", "default"])
    assert refused.exit_code != 0 and "cannot be offboarded" in refused.output
    refused = runner.invoke(cli, ["tenants", "offboard", "acme"])
    assert refused.exit_code != 0 and "tenants export acme" in refused.output
    assert runner.invoke(cli, ["tenants", "export", "acme", "--to", str(tmp_path / "acme")]).exit_code == 0
    done = runner.invoke(cli, ["tenants", "offboard", "acme", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["events"] == {"main": 1}
    shown = runner.invoke(cli, ["--tenant", "acme", "portfolio", "state", "P"])
    assert shown.exit_code != 0  # nothing of it is left


def test_a_silo_on_the_operators_own_store_is_emptied_and_left_in_place(
    runtime: Runtime, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if runtime.home.spec.store.startswith("sqlite"):
        own = f"sqlite:///{tmp_path / 'own' / 'silo.db'}"
    else:
        server = str(request.getfixturevalue("pg_server"))
        own = create_database(
            server, f"ownsilo{os.getpid()}_{next(_names)}", template=request.getfixturevalue("pg_home")
        )
    catalogue_of(runtime).add("siloed", "enterprise", store=own)
    spec = runtime.tenants.placement("siloed").spec
    assert spec is not None and spec.store == own
    with tenant("siloed"):
        runtime.service("masterdata", MasterDataService).put("customer", "C1", {"name": "Aiko"}, actor="t")
    export_tenant(runtime, "siloed", tmp_path / "siloed")

    done = offboard_tenant(runtime, "siloed")

    assert done.events[spec.name] == 1 and done.destroyed == ()  # emptied, not dropped: not ours to drop
    assert _exists(runtime, spec)
    assert {t: n for t, n in _counts(runtime.location(spec), "siloed").items() if n} == {}
