"""Subject keys a process holds between reads: an erasure committed elsewhere shows on its next read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.core.events import NewEvent
from datastrata.core.tenancy import tenant
from datastrata.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.systems.food.service import FoodService
from datastrata.tenancy.erasure import erase
from datastrata.tenancy.personal import ERASED
from tests.tenancy.test_erasure import AIKO, BEN, NOW


@pytest.fixture
def two(store_url: str, tmp_path: Path) -> Iterator[tuple[Runtime, Runtime]]:
    """Two runtimes on one store, each with its own connections and sealer: two processes of one deployment."""
    settings = Settings(store=store_url, graph=f"ladybug:///{tmp_path / 'graph'}")
    writer = Runtime.open(settings, clock=FrozenClock(NOW))
    reader = Runtime.open(settings, clock=FrozenClock(NOW))
    yield writer, reader
    reader.close()
    writer.close()


def _lats(runtime: Runtime, tenant_id: str = "default") -> dict[tuple[str, int], object]:
    return {
        (e.stream_id, e.version): e.payload["lat"]
        for e in runtime.log.read_all()
        if e.type in ("UserRegistered", "UserUpdated") and e.tenant_id == tenant_id
    }


def test_a_reader_holding_a_subjects_key_sees_it_erased_by_another_process_on_its_next_read(
    two: tuple[Runtime, Runtime],
) -> None:
    writer, reader = two
    svc = writer.service("food", FoodService)
    svc.add_user("aiko", **AIKO)
    svc.add_user("ben", **BEN)
    assert _lats(reader) == {("food-user-aiko", 1): AIKO["lat"], ("food-user-ben", 1): BEN["lat"]}  # keys now held

    erase(writer, "user:aiko", actor="test")

    assert _lats(reader) == {("food-user-aiko", 1): ERASED, ("food-user-ben", 1): BEN["lat"]}
    svc.add_user("aiko", lat=1.5, lon=2.5)  # registered again: a new key, found by the reader's next read
    assert _lats(reader)[("food-user-aiko", 2)] == 1.5
    erase(writer, "user:aiko", actor="test")  # a second erasure of the same subject: the new key goes too
    assert _lats(reader) == {
        ("food-user-aiko", 1): ERASED,
        ("food-user-aiko", 2): ERASED,
        ("food-user-ben", 1): BEN["lat"],
    }


def test_an_erasure_in_one_tenant_keeps_the_keys_a_reader_holds_for_another(two: tuple[Runtime, Runtime]) -> None:
    writer, reader = two
    svc = writer.service("food", FoodService)
    for t in ("acme", "globex"):
        with tenant(t):
            svc.add_user("aiko", **AIKO)
    assert _lats(reader, "acme") == _lats(reader, "globex") == {("food-user-aiko", 1): AIKO["lat"]}

    with tenant("acme"):
        erase(writer, "user:aiko", actor="test")

    assert _lats(reader, "acme") == {("food-user-aiko", 1): ERASED}
    assert _lats(reader, "globex") == {("food-user-aiko", 1): AIKO["lat"]}


def test_a_key_read_inside_a_transaction_that_rolled_back_is_not_used_for_the_subjects_next_key(
    two: tuple[Runtime, Runtime],
) -> None:
    writer, _ = two
    scope = Scope("food", "user-aiko")
    with pytest.raises(RuntimeError), writer.transaction(scope) as work:
        work.append([NewEvent("UserRegistered", {"user_id": "aiko", **AIKO})])
        assert work.stream()[0].payload["lat"] == AIKO["lat"]  # read (and its key looked up) before the rollback
        raise RuntimeError("rolled back")
    writer.service("food", FoodService).add_user("aiko", **BEN)  # a new key: the first one never committed
    assert _lats(writer) == {("food-user-aiko", 1): BEN["lat"]}
