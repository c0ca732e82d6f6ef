"""The directory: pinned keys go where the table says, every other key where the fallback router says."""

from __future__ import annotations

import json

import pytest

from datastrata.core.errors import ValidationError
from datastrata.sharding import DirectoryRouter, JumpRouter, RangeRouter, router_from_dict
from tests.sharding.conftest import KEYS, shard_names


def test_pinned_keys_override_and_the_rest_follow_the_fallback() -> None:
    """A pinned key goes to its shard (an isolated one here); no other key changes shard."""
    fallback = JumpRouter(shard_names(4))
    router = DirectoryRouter(fallback, {"user-7": "hot", 42: "s0"}, shards=[*shard_names(4), "hot"])
    assert router.route("user-7") == "hot" and router.route(42) == "s0"
    others = [key for key in KEYS[:5000] if key != "user-7"]
    assert router.route_many(others) == fallback.route_many(others)
    assert "hot" not in fallback.route_many(KEYS[:5000])


def test_pin_and_unpin_return_new_directories() -> None:
    """Pinning moves one key only; unpinning sends it back to the fallback's shard."""
    fallback = JumpRouter(shard_names(4))
    empty = DirectoryRouter(fallback)
    pinned = empty.pin("user-9", "iso")
    assert pinned.shards == (*shard_names(4), "iso") and pinned.route("user-9") == "iso"
    assert empty.route("user-9") == fallback.route("user-9")
    moved = [key for key in KEYS[:5000] if pinned.route(key) != empty.route(key)]
    assert moved == ["user-9"]
    assert pinned.pin("user-9", "s1").route("user-9") == "s1"
    assert pinned.unpin("user-9").route("user-9") == fallback.route("user-9")


def test_round_trip_through_json_keeps_key_types_and_the_fallback() -> None:
    """Text, int and bytes keys and a range fallback survive a JSON round trip."""
    fallback = RangeRouter(["a", "b"], ["m"])
    router = DirectoryRouter(fallback, {"zeta": "a", 5: "iso", b"\x01": "b"}, shards=["a", "b", "iso"])
    back = router_from_dict(json.loads(json.dumps(router.to_dict())))
    assert back == router
    assert isinstance(back, DirectoryRouter) and back.table == router.table
    assert back.route(5) == "iso" and back.route("zeta") == "a" and back.route("n") == "b"


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: DirectoryRouter(JumpRouter(["a"]), {"k": "nowhere"}), "table"),
        (lambda: DirectoryRouter(JumpRouter(["a", "b"]), shards=["a"]), "shards"),
        (lambda: DirectoryRouter(DirectoryRouter(JumpRouter(["a"]))), "fallback"),
        (lambda: DirectoryRouter(JumpRouter(["a"]), {1.5: "a"}), "table"),  # type: ignore[dict-item]
        (lambda: DirectoryRouter(JumpRouter(["a"]), {"k": "a", b"k": "b"}, shards=["a", "b"]), "table"),
        (lambda: DirectoryRouter(JumpRouter(["a"])).unpin("k"), "key"),
        (
            lambda: router_from_dict(
                {"kind": "directory", "fallback": {"kind": "jump", "shards": ["a"]}, "table": [["k", "a"], ["k", "a"]]}
            ),
            "table",
        ),
        (lambda: router_from_dict({"kind": "directory", "fallback": "jump"}), "fallback"),
    ],
)
def test_bad_directories_are_refused_naming_the_field(build: object, field: str) -> None:
    """An unknown shard in the table, a fallback shard left out, a nested directory… each names its field."""
    with pytest.raises(ValidationError) as caught:
        build()  # type: ignore[operator]
    assert caught.value.field == field
