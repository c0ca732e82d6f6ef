"""One object-store contract on a local folder and on an S3 API server: bytes, classes, restores and their ETAs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.errors import NotFound, RuleViolation, ValidationError
from datastrata.tiering.objects import ObjectStore

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def store(objects_url: str, clock: FrozenClock) -> ObjectStore:
    return ObjectStore(objects_url, clock=clock)


def test_bytes_round_trip_with_class_size_and_listing(store: ObjectStore) -> None:
    info = store.put("models/a/v1.bin", b"weights-1", storage_class="STANDARD")
    store.put("models/b/v1.bin", b"other")
    store.put("logs/x.json", b"{}")
    assert (info.size, info.storage_class, info.placed_at) == (9, "STANDARD", T0)
    assert store.read("models/a/v1.bin") == b"weights-1"
    assert [o.key for o in store.list("models/")] == ["models/a/v1.bin", "models/b/v1.bin"]
    assert [o.key for o in store.list()] == ["logs/x.json", "models/a/v1.bin", "models/b/v1.bin"]
    store.delete("models/a/v1.bin")
    store.delete("models/a/v1.bin")  # deleting what is gone is not an error
    with pytest.raises(NotFound):
        store.read("models/a/v1.bin")


def test_class_changes_are_kept_by_the_backend(store: ObjectStore, clock: FrozenClock) -> None:
    store.put("a.bin", b"x" * 1000)
    clock.advance(timedelta(days=31))
    info = store.set_class("a.bin", "STANDARD_IA")
    assert (info.storage_class, info.placed_at) == ("STANDARD_IA", T0 + timedelta(days=31))
    assert store.read("a.bin") == b"x" * 1000
    assert store.info("a.bin").storage_class == "STANDARD_IA"


def test_archived_object_is_unreadable_until_restored_by_our_tier_model(store: ObjectStore, clock: FrozenClock) -> None:
    store.put("old.bin", b"frozen bytes", storage_class="GLACIER")
    with pytest.raises(RuleViolation, match="restore it first"):
        store.read("old.bin")
    request = store.restore("old.bin", tier="standard", days=2)
    assert request.ready_at == T0 + timedelta(hours=5)
    assert request.expires_at == T0 + timedelta(hours=5, days=2)
    assert store.restore("old.bin", tier="bulk", days=2) == request  # the standing request decides
    clock.advance(timedelta(hours=4, minutes=59))
    with pytest.raises(RuleViolation, match="being restored"):
        store.read("old.bin")
    clock.advance(timedelta(minutes=1))
    assert store.read("old.bin") == b"frozen bytes"
    clock.advance(timedelta(days=2))
    with pytest.raises(RuleViolation, match="restore it first"):
        store.read("old.bin")


def test_restore_tiers_follow_the_class(store: ObjectStore) -> None:
    store.put("deep.bin", b"d", storage_class="DEEP_ARCHIVE")
    with pytest.raises(ValidationError, match="standard, bulk"):
        store.restore("deep.bin", tier="expedited", days=1)
    assert store.restore("deep.bin", tier="bulk", days=1).ready_at == T0 + timedelta(hours=48)
    store.put("plain.bin", b"p")
    with pytest.raises(ValidationError, match="readable as it is"):
        store.restore("plain.bin", tier="standard", days=1)


def test_bad_keys_and_classes_are_refused(store: ObjectStore) -> None:
    with pytest.raises(ValidationError, match="storage class"):
        store.put("a.bin", b"x", storage_class="COLDEST")
    with pytest.raises(ValidationError, match="relative path"):
        store.put("../escape", b"x")
    assert not store.exists("a.bin")


def test_an_archived_object_goes_deeper_without_a_restore_but_never_back(store: ObjectStore, objects_url: str) -> None:
    store.put("vault.bin", b"archived film", storage_class="GLACIER")
    with pytest.raises(RuleViolation, match="restore it first"):
        store.set_class("vault.bin", "STANDARD")  # out of the archive needs a restore
    if objects_url.startswith("s3://"):
        with pytest.raises(RuleViolation, match="bucket lifecycle rule"):
            store.set_class("vault.bin", "DEEP_ARCHIVE")
        assert store.info("vault.bin").storage_class == "GLACIER"
        return
    assert store.set_class("vault.bin", "DEEP_ARCHIVE").storage_class == "DEEP_ARCHIVE"
    with pytest.raises(RuleViolation, match="restore it first"):
        store.set_class("vault.bin", "GLACIER")  # back to a warmer archive is no lifecycle transition
