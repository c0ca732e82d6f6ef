"""The sealed envelope: new events in format 2 (one compact string bound to its event); format 1 still reads."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from datastrata.catalog import migrate as migrate_all
from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.core.errors import ConfigurationError
from datastrata.core.events import Event
from datastrata.core.tenancy import tenant as acting_for
from datastrata.eventlog.log import EventLog
from datastrata.runtime import Runtime, Scope
from datastrata.runtime.jobs import Job
from datastrata.systems.food.service import SERVICE as FOOD
from datastrata.systems.food.service import FoodService
from datastrata.systems.masterdata.service import MasterDataService
from datastrata.tenancy.catalogue import catalogue_of
from datastrata.tenancy.erasure import erase
from datastrata.tenancy.move import start_move
from datastrata.tenancy.personal import ERASED, SEALED
from datastrata.tenancy.sealing import ENVELOPE, FORMAT
from datastrata.tenancy.subject_keys import key_for_sealing, unwrap
from tests.tenancy.test_erasure import AIKO, BEN

NOW = datetime(2025, 10, 1, 12, tzinfo=UTC)
OLD = {"lat": 33.590355, "lon": 130.401716}  # recorded by a release before format 2


@pytest.fixture
def runtime(store_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on each backend, its clock at NOW, with a graph file for the food system."""
    opened = Runtime.open(Settings(store=store_url, graph=f"ladybug:///{tmp_path / 'graph'}"), clock=FrozenClock(NOW))
    yield opened
    opened.close()


def _stored(runtime: Runtime, stream_id: str) -> list[dict[str, Any]]:
    with runtime.db.read() as tx:
        rows = tx.query("SELECT payload FROM eventlog_events WHERE stream_id = ? ORDER BY version", (stream_id,))
    return [orjson.loads(p) if isinstance(p, (str, bytes)) else dict(p) for (p,) in rows]


def _first_format(log: EventLog, tenant: str, user: str, position: dict[str, float], version: int = 1) -> Event:
    """Store a food user's registration sealed the way releases before format 2 did (a nested JSON envelope)."""
    subject = f"user:{user}"
    with acting_for(tenant), log.db.transaction() as tx:
        key = unwrap(key_for_sealing(tx, tenant, subject, NOW))
        nonce = os.urandom(12)
        values = orjson.dumps({"v": [position["lat"], position["lon"]]})
        sealed = nonce + AESGCM(key).encrypt(nonce, values, f"{tenant}\x1f{subject}".encode())
        payload = {
            "user_id": user,
            "lat": SEALED,
            "lon": SEALED,
            ENVELOPE: {"subject": subject, "paths": [["lat"], ["lon"]], "sealed": base64.b64encode(sealed).decode()},
        }
        event = Event(
            f"food-user-{user}", version, 0, f"old-{user}-{version}", "UserRegistered", payload, {}, NOW, NOW, 1, tenant
        )
        assert log.import_in(tx, [event]) == 1
    return event


def test_new_events_are_sealed_in_one_compact_envelope_and_open_as_appended(runtime: Runtime) -> None:
    runtime.service("food", FoodService).add_user("aiko", **AIKO)

    [stored] = _stored(runtime, "food-user-aiko")
    envelope = stored.pop(ENVELOPE)
    assert stored == {"user_id": "aiko", "lat": SEALED, "lon": SEALED}  # the shape stays; the values are sealed
    form, sealed, paths, subject = envelope.split(":", 3)
    assert (form, paths, subject) == (FORMAT, "lat,lon", "user:aiko")
    assert "35.681236" not in envelope and "35.681236" not in base64.b64decode(sealed).decode("latin-1")
    assert runtime.log.read("food-user-aiko")[0].payload == {"user_id": "aiko", **AIKO}


def test_nested_and_listed_personal_fields_are_sealed_by_path_and_open_in_place(runtime: Runtime) -> None:
    svc = runtime.service("masterdata", MasterDataService)
    svc.put("customer", "C1", {"name": "Aiko Tanaka", "email": "aiko@example.com", "credit_tier": "gold"}, actor="t")
    svc.put("customer", "C1", {"name": "Aiko Sato", "email": "aiko@example.com", "credit_tier": "gold"}, actor="t")

    changed = [e for e in runtime.log.read_all() if e.type == "MasterDataChanged"][-1]
    [stored] = [p for p in _stored(runtime, changed.stream_id) if p.get("replaced")]
    _, _, paths, subject = stored[ENVELOPE].split(":", 3)
    assert subject == "customer:C1" and "replaced.0.attributes.name" in paths.split(",")
    assert stored["replaced"][0]["attributes"] == {"name": SEALED, "email": SEALED, "credit_tier": "gold"}
    assert changed.payload["replaced"][0]["attributes"]["name"] == "Aiko Tanaka"
    assert changed.payload["after"]["name"] == "Aiko Sato" and ENVELOPE not in changed.payload


def test_a_sealed_value_copied_into_another_event_of_its_subject_does_not_open_there(sqlite_url: str) -> None:
    with Runtime.open(Settings(store=sqlite_url), clock=FrozenClock(NOW)) as runtime:
        svc = runtime.service("food", FoodService)
        svc.add_user("aiko", **AIKO)
        svc.add_user("aiko", **BEN)  # a second event of the same subject, under the same key
        first, second = _stored(runtime, "food-user-aiko")
        second[ENVELOPE] = first[ENVELOPE]
        with runtime.db.transaction() as tx:
            tx.execute(
                "UPDATE eventlog_events SET payload = ? WHERE stream_id = 'food-user-aiko' AND version = 2",
                (orjson.dumps(second).decode(),),
            )
        reader = Runtime.open(runtime.settings)  # a process of its own: nothing held
        try:
            opened = [e.payload for e in reader.log.read("food-user-aiko")]
        finally:
            reader.close()
    assert opened[0] == {"user_id": "aiko", **AIKO}
    assert opened[1] == {"user_id": "aiko", "lat": ERASED, "lon": ERASED}  # bound to its own event: never AIKO's


def test_events_sealed_in_the_first_format_still_open_and_are_erased_with_the_new_ones(runtime: Runtime) -> None:
    _first_format(runtime.log, "default", "aiko", OLD)
    svc = runtime.service("food", FoodService)
    svc.add_user("aiko", **AIKO)  # a later event of the same subject: format 2, the same key
    svc.add_user("ben", **BEN)
    first, second = _stored(runtime, "food-user-aiko")
    assert isinstance(first[ENVELOPE], dict) and str(second[ENVELOPE]).startswith(f"{FORMAT}:")

    opened = [e.payload for e in runtime.log.read("food-user-aiko")]
    assert opened == [{"user_id": "aiko", **OLD}, {"user_id": "aiko", **AIKO}]

    erase(runtime, "user:aiko", actor="test")

    erased = {"user_id": "aiko", "lat": ERASED, "lon": ERASED}
    assert [e.payload for e in runtime.log.read("food-user-aiko")] == [erased, erased]
    assert runtime.log.read("food-user-ben")[0].payload == {"user_id": "ben", **BEN}


def test_an_envelope_of_a_newer_format_is_refused_naming_the_upgrade(sqlite_url: str) -> None:
    with Runtime.open(Settings(store=sqlite_url), clock=FrozenClock(NOW)) as runtime:
        payload = {"user_id": "aiko", "lat": SEALED, "lon": SEALED, ENVELOPE: "3:c2VhbGVk:lat,lon:user:aiko"}
        event = Event("food-user-aiko", 1, 0, "e-new", "UserRegistered", payload, {}, NOW, NOW, 1, "default")
        with runtime.db.transaction() as tx:
            runtime.log.import_in(tx, [event])
        with pytest.raises(ConfigurationError, match=r"envelope format '3'.*upgrade datastrata"):
            runtime.log.read("food-user-aiko")


def test_a_move_carries_both_formats_as_stored_and_they_open_and_erase_at_the_target(
    home_url: str, tmp_path: Path
) -> None:
    settings = Settings(store=home_url, graph=f"ladybug:///{tmp_path}/graph")  # the suite sets the platform key
    if home_url.startswith("sqlite"):
        migrate_all(settings)
    with Runtime.open(settings) as runtime:
        catalogue_of(runtime).add("acme", "indie")
        _first_format(runtime.home.log, "acme", "old", OLD)
        food = runtime.service(FOOD, FoodService)
        with acting_for("acme"):
            food.add_user("aiko", **AIKO)
        before = [e.payload for e in runtime.home.log.tenant_page("acme").events]

        job = start_move(runtime, "acme", "dedicated-storage", grace=0, foreground=True)  # verify compares digests
        assert isinstance(job, Job) and job.state == "succeeded", job.error

        with acting_for("acme"):
            target = runtime.location(runtime.placement.locate(Scope.of("food"))).log
            assert target is not runtime.home.log
            stored = target.tenant_page("acme").events
            assert [e.payload for e in stored] == before  # as stored: format 1 and format 2 envelopes alike
            opened = {e.stream_id: e.payload for e in target.opened(stored)}
            assert opened["food-user-old"] == {"user_id": "old", **OLD}
            assert opened["food-user-aiko"] == {"user_id": "aiko", **AIKO}
            erase(runtime, "user:old", actor="test")
            erase(runtime, "user:aiko", actor="test")
            after = {e.stream_id: e.payload for e in target.opened(target.tenant_page("acme").events)}
        assert after["food-user-old"]["lat"] == after["food-user-aiko"]["lon"] == ERASED
