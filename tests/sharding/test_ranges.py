"""Range routers: ordered boundaries, split and merge that keep every key routed, one key type."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datastrata.core.errors import ValidationError
from datastrata.sharding import KeyRange, RangeRouter, encode_key, router_from_dict
from tests.sharding.conftest import KEYS, max_over_mean, shard_names


def test_keys_go_to_the_range_that_starts_at_or_below_them() -> None:
    """A boundary belongs to the range it starts; below the first boundary is the first range."""
    router = RangeRouter(["a", "b", "c"], ["g", "p"])
    assert [router.route(key) for key in ["", "f", "g", "o", "p", "zzz"]] == ["a", "a", "b", "b", "c", "c"]
    assert router.ranges() == [KeyRange(None, "g", "a"), KeyRange("g", "p", "b"), KeyRange("p", None, "c")]


def test_int_keys_compare_numerically_including_negatives() -> None:
    """Ints are ordered as numbers, not as text ("10" < "9") nor as raw two's complement bytes."""
    router = RangeRouter(["neg", "low", "high"], [0, 10], key_type="int")
    assert [router.route(key) for key in [-(2**63), -1, 0, 9, 10, 2**63 - 1]] == [
        "neg", "neg", "low", "low", "high", "high",
    ]  # fmt: skip


@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=2, max_size=20))
def test_int_encoding_preserves_order(values: list[int]) -> None:
    """Sorting ints by their encoding sorts them numerically."""
    assert sorted(values, key=encode_key) == sorted(values)


@given(st.lists(st.text(max_size=8), min_size=2, max_size=20))
def test_text_encoding_preserves_code_point_order(values: list[str]) -> None:
    """Sorting text by its UTF-8 encoding is Python's code-point order."""
    values = [value for value in values if not any(0xD800 <= ord(char) <= 0xDFFF for char in value)]
    assert sorted(values, key=encode_key) == sorted(values)


def test_at_quantiles_balances_the_sample() -> None:
    """Boundaries cut at the sample's quantiles give each shard an equal share of it."""
    for count in (4, 16):
        router = RangeRouter.at_quantiles(shard_names(count), KEYS)
        assert max_over_mean(router.route_many(KEYS), shard_names(count)) <= 1.001


def test_splitting_the_largest_range_moves_half_a_shard_to_the_new_one() -> None:
    """Range n -> n+1 by one split moves 1/(2n) of the keys (less than 1/(n+1)) but leaves the others as they were."""
    router = RangeRouter.at_quantiles(shard_names(8), KEYS)
    index = 3
    inside = sorted((key for key in KEYS if router.range_of(key) == index), key=encode_key)
    grown = router.split(index, inside[len(inside) // 2], to="s8")
    before, after = router.route_many(KEYS), grown.route_many(KEYS)
    moved = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert {move for move in moved} == {("s3", "s8")}
    assert len(moved) / len(KEYS) == pytest.approx(1 / 16, abs=0.001)
    assert grown.shards == (*shard_names(8), "s8")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(alphabet="abcdefghij", min_size=1, max_size=4), min_size=1, max_size=40, unique=True),
    st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=50)), max_size=12),
)
def test_split_and_merge_keep_every_key_routed(points: list[str], steps: list[tuple[bool, int]]) -> None:
    """After any sequence of splits and merges every key still has exactly one shard, and a merge or split changes
    the shard of no key outside the ranges it touched."""
    probe = [*points, "", "a", "jjjjj", "e"]
    router = RangeRouter(["s0", "s1"], [], ["s0"])
    for split, choice in steps:
        before = router.route_many(probe)
        if split:
            candidates = [point for point in points if _inside(router, point)]
            if not candidates:
                continue
            at = candidates[choice % len(candidates)]
            index = router.range_of(at)
            router = router.split(index, at, to=f"s{choice % 3}")
            touched = {index, index + 1}
        elif len(router.owners) > 1:
            index = choice % (len(router.owners) - 1)
            router = router.merge(index)
            touched = {index}
        else:
            continue
        after = router.route_many(probe)
        assert all(shard in router.shards for shard in after)
        for key, old, new in zip(probe, before, after, strict=True):
            if router.range_of(key) not in touched:
                assert old == new
    assert router_from_dict(router.to_dict()) == router


def _inside(router: RangeRouter, point: str) -> bool:
    return point not in router.boundaries and point != ""


def test_merge_gives_both_ranges_to_one_owner() -> None:
    """Merging two neighbours keeps one range owned by the left one's shard unless told otherwise."""
    router = RangeRouter(["a", "b", "c"], ["g", "p"])
    merged = router.merge(0)
    assert merged.boundaries == ("p",) and merged.owners == ("a", "c")
    assert merged.route("h") == "a"
    assert router.merge(1, to="a").ranges() == [KeyRange(None, "g", "a"), KeyRange("g", None, "a")]


def test_bytes_boundaries_round_trip_through_json() -> None:
    """Bytes boundaries are stored as hex and come back as bytes."""
    router = RangeRouter(["a", "b"], [b"\x80"])
    data = router.to_dict()
    assert data["boundaries"] == [{"hex": "80"}]
    back = router_from_dict(data)
    assert back == router and back.route(b"\x7f") == "a" and back.route(b"\x80") == "b"


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: RangeRouter(["a", "b", "c"], ["p", "g"]), "boundaries"),
        (lambda: RangeRouter(["a", "b", "c"], ["g", "g"]), "boundaries"),
        (lambda: RangeRouter(["a", "b"], ["g", 5]), "boundaries"),
        (lambda: RangeRouter(["a", "b", "c"], ["g"]), "owners"),
        (lambda: RangeRouter(["a", "b"], ["g"], ["a", "z"]), "owners"),
        (lambda: RangeRouter(["a", "b"], ["g"], key_type="int"), "key_type"),
        (lambda: RangeRouter(["a"], key_type="float"), "key_type"),
        (lambda: RangeRouter(["a", "b"], ["g"]).split(0, "h"), "at"),
        (lambda: RangeRouter(["a", "b"], ["g"]).split(1, "g"), "at"),
        (lambda: RangeRouter(["a", "b"], ["g"]).split(0, 3), "at"),
        (lambda: RangeRouter(["a", "b"], ["g"]).split(2, "b"), "index"),
        (lambda: RangeRouter(["a", "b"], ["g"]).merge(1), "index"),
        (lambda: RangeRouter(["a"], [], ["a"]).merge(0), "index"),
        (lambda: RangeRouter(["a", "b"], ["g"]).merge(0, to="z"), "to"),
        (lambda: RangeRouter(["a", "b"], ["g"]).route(7), "key"),
        (lambda: RangeRouter.at_quantiles(["a", "b", "c"], ["x", "x", "x"]), "sample"),
    ],
)
def test_bad_ranges_are_refused_naming_the_field(build: object, field: str) -> None:
    """Unsorted or repeated boundaries, mixed key types, split points outside the range… each names its field."""
    with pytest.raises(ValidationError) as caught:
        build()  # type: ignore[operator]
    assert caught.value.field == field
