"""Bad routers and keys are refused with a ValidationError naming the field; dicts round-trip exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datastrata.core.errors import ValidationError
from datastrata.sharding import (
    ROUTER_KINDS,
    DirectoryRouter,
    JumpRouter,
    RangeRouter,
    RendezvousRouter,
    RingRouter,
    Router,
    encode_key,
    router_from_dict,
)


def every_kind() -> list[Router]:
    """One router of each kind, with non-default parameters."""
    return [
        RingRouter(["a", "b", "c"], vnodes=16, seed=3),
        JumpRouter(["a", "b", "c"], seed=9),
        RendezvousRouter(["a", "b"], weights={"a": 1.5, "b": 3}),
        RangeRouter(["a", "b"], [10], ["b", "a"], key_type="int"),
        DirectoryRouter(RingRouter(["a", "b"], vnodes=8), {"k": "c"}, shards=["a", "b", "c"]),
    ]


def test_every_kind_round_trips_through_json() -> None:
    """to_dict → JSON → router_from_dict gives an equal router that routes every key the same way."""
    routers = every_kind()
    assert sorted(router.kind for router in routers) == sorted(ROUTER_KINDS)
    keys: list[Any] = [*range(-50, 50), "k", "x", "y"]
    for router in routers:
        data = json.loads(json.dumps(router.to_dict()))
        assert data["kind"] == router.kind
        back = router_from_dict(data)
        assert back == router and back.to_dict() == router.to_dict()
        usable = [key for key in keys if isinstance(key, int)] if isinstance(router, RangeRouter) else keys
        assert back.route_many(usable) == router.route_many(usable)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: JumpRouter([]), "shards"),
        (lambda: RingRouter(["a", "a"]), "shards"),
        (lambda: RendezvousRouter("ab"), "shards"),
        (lambda: JumpRouter(["A b"]), "shards"),
        (lambda: RingRouter(["a"], vnodes=0), "vnodes"),
        (lambda: RingRouter(["a"], vnodes=True), "vnodes"),
        (lambda: JumpRouter(["a"], seed=-1), "seed"),
        (lambda: RendezvousRouter(["a", "b"], weights={"a": 1}), "weights"),
        (lambda: RendezvousRouter(["a"], weights={"a": 1, "z": 1}), "weights"),
        (lambda: RendezvousRouter(["a"], weights={"a": 0}), "weights.a"),
        (lambda: RendezvousRouter(["a"], weights={"a": float("nan")}), "weights.a"),
        (lambda: router_from_dict({"kind": "modulo", "shards": ["a"]}), "kind"),
        (lambda: router_from_dict({"shards": ["a"]}), "kind"),
        (lambda: router_from_dict(["jump"]), "kind"),  # type: ignore[arg-type]
        (lambda: router_from_dict({"kind": "jump"}), "shards"),
        (lambda: router_from_dict({"kind": "jump", "shards": ["a"], "vnodes": 4}), "vnodes"),
        (lambda: router_from_dict({"kind": "ring", "shards": 3}), "shards"),
        (
            lambda: router_from_dict({"kind": "range", "shards": ["a", "b"], "boundaries": [{"hex": "zz"}]}),
            "boundaries",
        ),
        (lambda: JumpRouter(["a"]).route(True), "key"),
        (lambda: JumpRouter(["a"]).route(1.5), "key"),  # type: ignore[arg-type]
        (lambda: JumpRouter(["a"]).route(2**63), "key"),
        (lambda: JumpRouter(["a"]).route("x" * 1025), "key"),
        (lambda: JumpRouter(["a"]).route("\udc80"), "key"),
    ],
)
def test_bad_input_is_refused_naming_the_field(build: Any, field: str) -> None:
    """Empty or repeated shards, vnodes < 1, bad weights, unknown kinds, bad keys: each names its field and fix."""
    with pytest.raises(ValidationError) as caught:
        build()
    assert caught.value.field == field
    assert len(str(caught.value)) > 20


def test_an_error_says_what_to_do() -> None:
    """The message names the problem and the fix, not just the field."""
    with pytest.raises(ValidationError, match="names shard 'a' twice; give each shard once"):
        JumpRouter(["a", "b", "a"])
    with pytest.raises(ValidationError, match="kind must be one of ring, jump, rendezvous, range, directory"):
        router_from_dict({"kind": "mod"})


@given(st.one_of(st.text(max_size=40), st.binary(max_size=40), st.integers(min_value=-(2**63), max_value=2**63 - 1)))
def test_every_valid_key_routes_to_a_shard_of_every_router(key: str | bytes | int) -> None:
    """Any text, bytes or 64-bit int has exactly one shard, the same on each call."""
    try:
        encode_key(key)
    except ValidationError:
        return  # text with lone surrogates is refused, covered above
    for router in every_kind():
        if isinstance(router, RangeRouter):
            continue
        shard = router.route(key)
        assert shard in router.shards and router.route(key) == shard
