"""An eventsourcing application whose events live in datastrata's log, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import DataError, IntegrityError
from eventsourcing.system import ProcessApplication, SingleThreadedRunner, System
from eventsourcing.utils import get_topic

from datastrata.core.errors import ConfigurationError
from datastrata.core.events import NewEvent
from datastrata.eventlog import EventLog
from datastrata.integrations.eventsourcing import decode_state, encode_state
from datastrata.stores.open import open_database
from datastrata.testing.servers import create_database

MODULE = "datastrata.integrations.eventsourcing"


class Dog(Aggregate):
    """The dog of eventsourcing's tutorial."""

    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name
        self.tricks: list[str] = []

    @event("TrickAdded")
    def add_trick(self, trick: str) -> None:
        self.tricks.append(trick)


class DogSchool(Application[UUID]):
    """Registers dogs and teaches them tricks."""

    def register_dog(self, name: str) -> UUID:
        dog = Dog(name)
        self.save(dog)
        return dog.id

    def add_trick(self, dog_id: UUID, trick: str) -> None:
        dog: Dog = self.repository.get(dog_id)
        dog.add_trick(trick)
        self.save(dog)

    def get_dog(self, dog_id: UUID, version: int | None = None) -> dict[str, Any]:
        dog: Dog = self.repository.get(dog_id, version=version)
        return {"name": dog.name, "tricks": tuple(dog.tricks)}


class Counter(Aggregate):
    """Counts the tricks taught at the school."""

    def __init__(self) -> None:
        self.count = 0

    @event("Incremented")
    def increment(self) -> None:
        self.count += 1


class Counters(ProcessApplication[UUID]):
    """Follows the school and counts tricks, tracking what it processed in the same transaction."""

    counter_id: UUID | None = None

    def policy(self, domain_event: Any, processing_event: Any) -> None:
        if isinstance(domain_event, Dog.TrickAdded):  # type: ignore[attr-defined]
            if self.counter_id is None:
                counter = Counter()
                self.counter_id = counter.id
            else:
                counter = self.repository.get(self.counter_id)
            counter.increment()
            processing_event.collect_events(counter)


@pytest.fixture
def env(store_url: str) -> dict[str, str]:
    """eventsourcing environment naming this module and a fresh store."""
    return {"PERSISTENCE_MODULE": MODULE, "DATASTRATA_STORE": store_url}


def test_application_saves_and_retrieves_aggregates_in_datastratas_log(env: dict[str, str]) -> None:
    app = DogSchool(env=env)
    try:
        dog_id = app.register_dog("Fido")
        app.add_trick(dog_id, "roll over")
        app.add_trick(dog_id, "play dead")
        assert app.get_dog(dog_id) == {"name": "Fido", "tricks": ("roll over", "play dead")}
        assert app.get_dog(dog_id, version=2) == {"name": "Fido", "tricks": ("roll over",)}

        notifications = app.recorder.select_notifications(start=None, limit=10)
        assert [n.originator_version for n in notifications] == [1, 2, 3]
    finally:
        app.close()

    with open_database(env["DATASTRATA_STORE"]) as db:
        events = EventLog(db).read(str(dog_id))
    assert [e.version for e in events] == [1, 2, 3]  # eventsourcing versions start at 1: they map one to one
    registered, trick_added = get_topic(Dog.Registered), get_topic(Dog.TrickAdded)  # type: ignore[attr-defined]
    assert [e.type for e in events] == [registered, trick_added, trick_added]  # event type = topic
    assert events[0].payload["name"] == "Fido"  # the JSON state is readable by datastrata's own consumers
    assert [e.payload["trick"] for e in events[1:]] == ["roll over", "play dead"]
    assert [e.metadata["eventsourcing"]["originator_version"] for e in events] == [1, 2, 3]
    assert [n.id for n in notifications] == [e.position for e in events]  # notification ids are global positions


def test_store_url_from_the_process_environment(monkeypatch: pytest.MonkeyPatch, store_url: str) -> None:
    monkeypatch.setenv("PERSISTENCE_MODULE", MODULE)
    monkeypatch.setenv("DOGSCHOOL_DATASTRATA_STORE", store_url)  # eventsourcing's per-application prefix
    app = DogSchool()
    try:
        dog_id = app.register_dog("Rex")
    finally:
        app.close()
    with open_database(store_url) as db:
        assert [e.payload["name"] for e in EventLog(db).read(str(dog_id))] == ["Rex"]


def test_concurrent_change_of_one_aggregate_is_an_integrity_error(env: dict[str, str]) -> None:
    app1, app2 = DogSchool(env=env), DogSchool(env=env)
    try:
        dog_id = app1.register_dog("Fido")
        dog1: Dog = app1.repository.get(dog_id)
        dog2: Dog = app2.repository.get(dog_id)
        dog1.add_trick("sit")
        app1.save(dog1)
        dog2.add_trick("stay")
        with pytest.raises(IntegrityError):
            app2.save(dog2)
        assert app2.get_dog(dog_id)["tricks"] == ("sit",)
    finally:
        app1.close()
        app2.close()


def test_compressed_state_is_stored_as_base64_and_read_back(env: dict[str, str]) -> None:
    app = DogSchool(env={**env, "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"})
    try:
        dog_id = app.register_dog("Fido")
        app.add_trick(dog_id, "fetch")
        assert app.get_dog(dog_id) == {"name": "Fido", "tricks": ("fetch",)}
    finally:
        app.close()
    with open_database(env["DATASTRATA_STORE"]) as db:
        first = EventLog(db).read(str(dog_id))[0]
    assert first.metadata["eventsourcing"]["state"] == "base64"
    assert json.loads(zlib.decompress(base64.b64decode(first.payload["state_b64"])))["name"] == "Fido"


def test_snapshots_keep_the_latest_and_older_versions_replay_events(env: dict[str, str]) -> None:
    app = DogSchool(env={**env, "IS_SNAPSHOTTING_ENABLED": "y"})
    try:
        dog_id = app.register_dog("Fido")
        app.add_trick(dog_id, "sit")
        app.take_snapshot(dog_id)  # at version 2
        app.add_trick(dog_id, "stay")
        app.add_trick(dog_id, "roll over")
        app.take_snapshot(dog_id)  # at version 4: replaces the one at 2
        assert app.snapshots is not None
        assert [s.originator_version for s in app.snapshots.get(dog_id, desc=True, limit=1)] == [4]
        assert app.get_dog(dog_id) == {"name": "Fido", "tricks": ("sit", "stay", "roll over")}
        assert app.get_dog(dog_id, version=3) == {"name": "Fido", "tricks": ("sit", "stay")}
    finally:
        app.close()


def test_other_events_in_the_log_are_not_notifications(env: dict[str, str]) -> None:
    with open_database(env["DATASTRATA_STORE"]) as db:
        EventLog(db).append("portfolio-1", [NewEvent(type="TradeBooked", payload={"qty": 1})])
    app = DogSchool(env={**env, "DATASTRATA_SERIALIZE_WRITES": "no"})
    try:
        dog_id = app.register_dog("Fido")
        notifications = app.recorder.select_notifications(start=None, limit=10)
        assert [(n.originator_id, n.originator_version) for n in notifications] == [(dog_id, 1)]
        with pytest.raises(DataError, match="not written through eventsourcing"):
            app.recorder.select_events("portfolio-1")
    finally:
        app.close()


@pytest.fixture
def two_store_urls(request: pytest.FixtureRequest, tmp_path: Path, store_url: str) -> Iterator[tuple[str, str]]:
    """Two fresh stores on the same backend: one per application of a system."""
    if store_url.startswith("sqlite"):
        yield store_url, f"sqlite:///{tmp_path / 'counters.db'}"
    else:
        server = store_url.rsplit("/", 1)[0]
        yield store_url, create_database(server, store_url.rsplit("/", 1)[1] + "_counters")


def test_process_application_records_tracking_with_its_events(two_store_urls: tuple[str, str]) -> None:
    school_url, counters_url = two_store_urls
    env = {"PERSISTENCE_MODULE": MODULE, "DOGSCHOOL_DATASTRATA_STORE": school_url}
    env["COUNTERS_DATASTRATA_STORE"] = counters_url
    runner = SingleThreadedRunner(System(pipes=[[DogSchool, Counters]]), env=env)
    runner.start()
    try:
        school = runner.get(DogSchool)
        counters = runner.get(Counters)
        dog_id = school.register_dog("Fido")
        school.add_trick(dog_id, "sit")
        school.add_trick(dog_id, "stay")
        assert counters.counter_id is not None
        counter: Counter = counters.repository.get(counters.counter_id)
        assert counter.count == 2
        last = school.recorder.max_notification_id()
        assert counters.recorder.max_tracking_id("DogSchool") == last
    finally:
        runner.stop()
    with open_database(counters_url) as db:
        assert [e.version for e in EventLog(db).read(str(counter.id))] == [1, 2, 3]


@pytest.mark.parametrize(
    ("state", "encoding"),
    [
        (b'{"a":1,"b":[1.5,"x",null,true],"c":{"d":"\xc3\xa9"}}', "json"),
        (b"{}", "json"),
        (b"state1", "base64"),  # not JSON
        (b"[1,2]", "base64"),  # JSON, but not an object
        (b'{"a": 1}', "base64"),  # not compact: would not come back byte for byte
        (b'{"a":1e+16}', "base64"),  # PostgreSQL's numeric would return an int
        (b'{"a":-0.0}', "base64"),  # PostgreSQL's numeric has no negative zero
        (b'{"a":NaN}', "base64"),
        (b'{"a":1,"a":2}', "base64"),
        (b'{"a":"\\u0000"}', "base64"),  # jsonb refuses NUL
        (b'{"a":"\xff"}', "base64"),  # not UTF-8
        (zlib.compress(b'{"a":1}'), "base64"),
    ],
)
def test_state_encoding(state: bytes, encoding: str) -> None:
    payload, used = encode_state(state)
    assert used == encoding
    assert decode_state(payload, used) == state


def test_create_table_no_expects_the_migrations_applied(bare_pg_url: str) -> None:
    env = {"PERSISTENCE_MODULE": MODULE, "DATASTRATA_STORE": bare_pg_url, "CREATE_TABLE": "no"}
    with pytest.raises(ConfigurationError, match="pending migrations, the first is eventlog 0001"):
        DogSchool(env=env)
    app = DogSchool(env={**env, "CREATE_TABLE": "yes"})  # eventsourcing's default: migrate at start
    try:
        assert app.get_dog(app.register_dog("Rex"))["name"] == "Rex"
    finally:
        app.close()
    DogSchool(env=env).close()  # migrated now: CREATE_TABLE=no opens
