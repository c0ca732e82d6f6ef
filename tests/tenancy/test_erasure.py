"""Crypto-shredding: after `erase`, reads, projections, a rebuild and the state show "[erased]"; nothing else moves."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from datastrata.api.app import create_app
from datastrata.cli import app as cli
from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.core.errors import ConfigurationError
from datastrata.core.events import NewEvent
from datastrata.core.tenancy import tenant
from datastrata.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.systems.food.service import FoodService
from datastrata.systems.masterdata.service import MasterDataService
from datastrata.tenancy.erasure import erase
from datastrata.tenancy.personal import ERASED
from datastrata.tenancy.subject_keys import KEY_VARIABLE
from tests.conftest import ApiClient

NOW = datetime(2025, 10, 1, 12, tzinfo=UTC)
# Distinctive values, so a scan of the stored bytes finds them wherever they would leak.
AIKO = {"lat": 35.681236, "lon": 139.767125}
BEN = {"lat": 34.702485, "lon": 135.495951}


@pytest.fixture
def runtime(store_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on each backend, its clock at NOW, with a graph file for the food system."""
    opened = Runtime.open(Settings(store=store_url, graph=f"ladybug:///{tmp_path / 'graph'}"), clock=FrozenClock(NOW))
    yield opened
    opened.close()


def _stored(runtime: Runtime) -> list[tuple[Any, ...]]:
    with runtime.db.read() as tx:
        return [tuple(r) for r in tx.query("SELECT event_id, version, position, payload FROM eventlog_events")]


def _shape(runtime: Runtime) -> list[tuple[str, str, int, int, str]]:
    return [(e.event_id, e.stream_id, e.version, e.position, e.type) for e in runtime.log.read_all()]


def _user_positions(svc: FoodService) -> dict[str, tuple[Any, Any]]:
    rows = svc.graph.store.query("MATCH (u:User) RETURN u.id AS id, u.lat AS lat, u.lon AS lon")
    return {str(r["id"]): (r["lat"], r["lon"]) for r in rows}


def test_an_erased_food_user_reads_erased_everywhere_and_the_other_user_stays(runtime: Runtime) -> None:
    svc = runtime.service("food", FoodService)
    svc.add_user("aiko", **AIKO)
    svc.add_user("ben", **BEN)
    svc.add_user("aiko", lat=35.0, lon=139.0)  # a move: UserUpdated, the same subject
    for _, _, _, payload in _stored(runtime):
        assert "35.681236" not in str(payload) and "139.767125" not in str(payload)  # sealed, never plaintext
    svc.catch_up()
    assert _user_positions(svc)["aiko"] == (35.0, 139.0)
    before = _shape(runtime)

    done = erase(runtime, "user:aiko", actor="test")

    assert done.key_deleted and done.cleared == {"food_users.lat": 1, "food_users.lon": 1}
    assert _shape(runtime)[:-1] == before  # ids, streams, versions, positions and order unchanged
    assert runtime.log.read_all()[-1].type == "SubjectErased"
    events = {(e.stream_id, e.version): e.payload for e in runtime.log.read_all()}
    assert events[("food-user-aiko", 1)] == {"user_id": "aiko", "lat": ERASED, "lon": ERASED}
    assert events[("food-user-aiko", 2)] == {"user_id": "aiko", "lat": ERASED, "lon": ERASED}
    assert events[("food-user-ben", 1)] == {"user_id": "ben", **BEN}
    assert svc.store.user("aiko").lat == 0.0 and svc.store.user("ben").lat == BEN["lat"]
    svc.catch_up()  # the live graph folds SubjectErased: the node stays, its position goes
    positions = _user_positions(svc)
    assert positions["aiko"] == (None, None) and positions["ben"] == (BEN["lat"], BEN["lon"])
    svc.rebuild()  # a rebuild from the log: the sealed fields read erased
    positions = _user_positions(svc)
    assert positions["aiko"] == (None, None) and positions["ben"] == (BEN["lat"], BEN["lon"])


def test_an_erased_customer_reads_erased_in_state_history_audit_and_events(runtime: Runtime) -> None:
    svc = runtime.service("masterdata", MasterDataService)
    first = svc.put(
        "customer", "C1", {"name": "Aiko Tanaka", "email": "aiko@example.com", "credit_tier": "gold"}, actor="t"
    )
    svc.put("customer", "C1", {"name": "Aiko Sato", "email": "aiko@example.org", "credit_tier": "gold"}, actor="t")
    svc.put("customer", "C2", {"name": "Ben Ito", "email": "ben@example.com", "credit_tier": "silver"}, actor="t")
    svc.put("product", "P1", {"sku": "W-1", "name": "Widget", "price": "3", "currency": "EUR"}, actor="t")
    assert svc.get("customer", "C1").attributes["name"] == "Aiko Sato"  # read through the cache: now cached

    done = erase(runtime, "customer:C1", actor="test")

    assert done.copies == {"masterdata.cache": "dropped"}
    assert svc.get("customer", "C1").attributes == {"name": ERASED, "email": ERASED, "credit_tier": "gold"}
    then = svc.get("customer", "C1", as_of=first.valid_from, as_known_at=first.recorded_at)
    assert then.attributes["name"] == ERASED  # history too
    assert svc.get("customer", "C2").attributes["name"] == "Ben Ito"
    assert svc.get("product", "P1").attributes["name"] == "Widget"  # products hold no personal data
    with runtime.db.read() as tx:
        dump = str(
            [
                tx.query(f"SELECT * FROM {t}")
                for t in ("eventlog_events", "master_data_versions", "master_data_current", "master_data_audit")
            ]
        )
    assert "Aiko" not in dump and "aiko@" not in dump and "Ben Ito" in dump
    changed = [e.payload for e in runtime.log.read_all() if e.type == "MasterDataChanged"]
    assert changed[1]["before"]["name"] == ERASED and changed[1]["after"]["email"] == ERASED
    assert changed[1]["replaced"][0]["attributes"]["name"] == ERASED
    assert changed[2]["after"]["name"] == "Ben Ito"


def test_appended_and_read_in_one_transaction_the_fields_are_open(runtime: Runtime) -> None:
    scope = Scope("food", "user-aiko")
    with runtime.transaction(scope) as work:
        result = work.append([NewEvent("UserRegistered", {"user_id": "aiko", **AIKO})])
        assert result.events[0].payload["lat"] == AIKO["lat"]  # the result carries what was appended
        assert work.stream()[0].payload["lat"] == AIKO["lat"]  # a read before the commit opens it
    assert runtime.stream(scope)[0].payload["lat"] == AIKO["lat"]


def test_a_subject_registered_again_after_erasure_gets_a_new_key_and_the_old_fields_stay_erased(
    runtime: Runtime,
) -> None:
    svc = runtime.service("food", FoodService)
    svc.add_user("aiko", **AIKO)
    erase(runtime, "user:aiko", actor="test")
    svc.add_user("aiko", lat=1.5, lon=2.5)
    events = [e.payload for e in runtime.log.read_all() if e.stream_id == "food-user-aiko"]
    assert events == [{"user_id": "aiko", "lat": ERASED, "lon": ERASED}, {"user_id": "aiko", "lat": 1.5, "lon": 2.5}]


def test_erasing_a_subject_of_one_tenant_leaves_the_same_subject_of_another(runtime: Runtime) -> None:
    svc = runtime.service("food", FoodService)
    for t in ("acme", "globex"):
        with tenant(t):
            svc.add_user("aiko", **AIKO)
    with tenant("acme"):
        erase(runtime, "user:aiko", actor="test")
        assert svc.store.user("aiko").lat == 0.0
    with tenant("globex"):
        assert svc.store.user("aiko").lat == AIKO["lat"]
    by_tenant = {e.tenant_id: e.payload["lat"] for e in runtime.log.read_all() if e.type == "UserRegistered"}
    assert by_tenant == {"acme": ERASED, "globex": AIKO["lat"]}


def test_subject_keys_are_wrapped_with_the_platform_key_and_refused_without_it(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, base64.urlsafe_b64encode(os.urandom(32)).decode())
    runtime.service("food", FoodService).add_user("aiko", **AIKO)
    with runtime.db.read() as tx:
        (stored,) = tx.one("SELECT key_enc FROM tenancy_subject_keys WHERE subject = 'user:aiko'") or ("",)
    assert str(stored).startswith("v1:")
    reader = Runtime.open(runtime.settings)  # a process of its own: no unwrapped key cached
    try:
        monkeypatch.delenv(KEY_VARIABLE)
        with pytest.raises(ConfigurationError, match=KEY_VARIABLE):
            reader.log.read_all()
        monkeypatch.setenv(KEY_VARIABLE, base64.urlsafe_b64encode(os.urandom(32)).decode())
        with pytest.raises(ConfigurationError, match="not the key"):
            reader.log.read_all()
        monkeypatch.setenv(KEY_VARIABLE, "short")
        with pytest.raises(ConfigurationError, match="32 bytes"):
            reader.log.read_all()
    finally:
        reader.close()


def test_erase_on_the_command_line_and_over_http(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api_client: ApiClient
) -> None:
    monkeypatch.setenv("DATASTRATA_STORE", store_url)
    monkeypatch.setenv("DATASTRATA_GRAPH", f"ladybug:///{tmp_path / 'graph'}")
    runner = CliRunner()
    for user, position in (("aiko", AIKO), ("ben", BEN)):
        where = ["--lat", str(position["lat"]), "--lon", str(position["lon"])]
        added = runner.invoke(cli, ["food", "user", "add", user, *where])
        assert added.exit_code == 0, added.output
    erased = runner.invoke(cli, ["erase", "user:aiko", "--reason", "request 7"])
    assert erased.exit_code == 0, erased.output
    assert "erased user:aiko of tenant default: its key deleted" in erased.output
    bad = runner.invoke(cli, ["erase", "user:\x01"])
    assert bad.exit_code != 0 and "subject" in bad.output
    app = create_app(Settings(store=store_url, graph=f"ladybug:///{tmp_path / 'graph'}"))
    with api_client(app, role="editor") as http:
        assert http.post("/subjects/user:ben/erase", json={}).status_code == 403  # an admin action
    with api_client(app) as http:
        answer = http.post("/subjects/user:ben/erase", json={"reason": "request 8"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["key_deleted"] is True and answer.json()["cleared"]["food_users.lat"] == 1
        runtime = app.state.runtime
        recorded = [e.payload for e in runtime.log.read_all() if e.type == "SubjectErased"]
        assert [(r["subject"], r["reason"]) for r in recorded] == [
            ("user:aiko", "request 7"),
            ("user:ben", "request 8"),
        ]
        assert all(e.payload["lat"] == ERASED for e in runtime.log.read_all() if e.type == "UserRegistered")
