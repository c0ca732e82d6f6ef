"""Range sharding: ordered boundaries cut the key space into ranges, each owned by a shard; split and merge."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from datastrata.core.errors import ValidationError
from datastrata.core.validation import bounded_int
from datastrata.sharding.keys import KEY_TYPES, Key, encode_key, key_from_json, key_to_json, key_type
from datastrata.sharding.names import MAX_SHARDS, check_shard, check_shards
from datastrata.sharding.router import Router, take_params

#: The most ranges a range router holds.
MAX_RANGES = 65_536


@dataclass(frozen=True, slots=True)
class KeyRange:
    """One range: keys from `start` (inclusive; ``None``: the lowest) up to `end` (exclusive; ``None``: no end)."""

    start: Key | None
    end: Key | None
    shard: str


class RangeRouter(Router):
    """Keys of one type (``str``, ``bytes`` or ``int``) in ranges cut at ordered boundaries, each range's owner named.

    Keys compare by their encoding (:func:`~datastrata.sharding.keys.encode_key`): text in code-point order,
    bytes lexicographically, ints numerically. A key equal to a boundary belongs to the range that starts there.
    """

    kind = "range"

    def __init__(
        self,
        shards: Sequence[str],
        boundaries: Sequence[Key] = (),
        owners: Sequence[str] | None = None,
        *,
        key_type: str | None = None,
    ) -> None:
        self._shards = check_shards(shards)
        if not isinstance(boundaries, (list, tuple)):
            raise ValidationError("boundaries must be a list of keys in ascending order", field="boundaries")
        if len(boundaries) >= MAX_RANGES:
            raise ValidationError(
                f"boundaries must hold fewer than {MAX_RANGES} keys; got {len(boundaries)}", field="boundaries"
            )
        self.key_type = _key_type_of(boundaries, key_type)
        self.boundaries = tuple(boundaries)
        self._encoded = [encode_key(bound, field="boundaries") for bound in boundaries]
        for index in range(1, len(self._encoded)):
            if self._encoded[index - 1] >= self._encoded[index]:
                raise ValidationError(
                    f"boundaries must be strictly ascending: {boundaries[index - 1]!r} is not below "
                    f"{boundaries[index]!r} (entries {index - 1} and {index}); sort them and drop repeats",
                    field="boundaries",
                )
        self.owners = _owners(owners, self._shards, len(boundaries) + 1)

    @classmethod
    def at_quantiles(cls, shards: Sequence[str], sample: Iterable[Key]) -> RangeRouter:
        """Return a router whose boundaries cut `sample` (keys of one type) into equal parts, one per shard."""
        names = check_shards(shards)
        keys = list(sample)
        if len(keys) < len(names):
            raise ValidationError(
                f"sample must hold at least one key per shard ({len(names)}); got {len(keys)}", field="sample"
            )
        ordered = sorted(set(keys), key=lambda key: encode_key(key, field="sample"))
        if len(ordered) < len(names):
            raise ValidationError(f"sample must hold at least {len(names)} distinct keys", field="sample")
        bounds = [ordered[len(ordered) * index // len(names)] for index in range(1, len(names))]
        return cls(names, bounds, key_type=key_type(ordered[0], field="sample"))

    @property
    def shards(self) -> tuple[str, ...]:
        """The declared shards (a shard may own several ranges, or none yet)."""
        return self._shards

    def ranges(self) -> list[KeyRange]:
        """Every range in key order, with its owner."""
        starts: list[Key | None] = [None, *self.boundaries]
        ends: list[Key | None] = [*self.boundaries, None]
        return [KeyRange(start, end, owner) for start, end, owner in zip(starts, ends, self.owners, strict=True)]

    def range_of(self, key: Key) -> int:
        """Return the index of the range holding `key`."""
        return bisect_right(self._encoded, self._encode(key))

    def route(self, key: Key) -> str:
        """The owner of the range holding the key."""
        return self.owners[bisect_right(self._encoded, self._encode(key))]

    def route_many(self, keys: Iterable[Key]) -> list[str]:
        """The owner of each key's range."""
        encoded, owners, encode = self._encoded, self.owners, self._encode
        return [owners[bisect_right(encoded, encode(key))] for key in keys]

    def _encode(self, key: Key, *, field: str = "key") -> bytes:
        if type(key) is not KEY_TYPES[self.key_type]:
            raise ValidationError(
                f"{field} must be of this range router's key type {self.key_type}; got {key_type(key, field=field)} "
                f"{key!r:.40}",
                field=field,
            )
        return encode_key(key, field=field)

    def split(self, index: int, at: Key, *, to: str | None = None) -> RangeRouter:
        """Return a router with range `index` cut at `at`: ``[start, at)`` stays, ``[at, end)`` goes to `to`
        (default: the same owner; a new shard name is added to the shards)."""
        index = self._index(index, last=len(self.owners) - 1)
        encoded = self._encode(at, field="at")
        piece = self.ranges()[index]
        low = self._encoded[index - 1] if index > 0 else None
        high = self._encoded[index] if index < len(self._encoded) else None
        if (low is not None and encoded <= low) or (high is not None and encoded >= high):
            raise ValidationError(
                f"at must lie strictly inside range {index} [{_shown(piece.start)}, {_shown(piece.end)}); got {at!r}; "
                "pick a key between its bounds or split another range",
                field="at",
            )
        owner = self.owners[index] if to is None else check_shard(to, field="to")
        shards = self._shards if owner in self._shards else (*self._shards, owner)
        if len(shards) > MAX_SHARDS:
            raise ValidationError(f"to would make more than {MAX_SHARDS} shards", field="to")
        bounds = [*self.boundaries[:index], at, *self.boundaries[index:]]
        owners = [*self.owners[: index + 1], owner, *self.owners[index + 1 :]]
        return RangeRouter(shards, bounds, owners, key_type=self.key_type)

    def merge(self, index: int, *, to: str | None = None) -> RangeRouter:
        """Return a router with ranges `index` and `index + 1` joined, owned by `to` (default: range `index`'s)."""
        index = self._index(index, last=len(self.owners) - 2)
        owner = self.owners[index] if to is None else to
        if owner not in self._shards:
            raise ValidationError(f"to must be one of the shards {list(self._shards)}; got {owner!r}", field="to")
        bounds = [*self.boundaries[:index], *self.boundaries[index + 1 :]]
        owners = [*self.owners[:index], owner, *self.owners[index + 2 :]]
        return RangeRouter(self._shards, bounds, owners, key_type=self.key_type)

    def _index(self, index: int, *, last: int) -> int:
        if last < 0:
            raise ValidationError("index: this router has one range only; there is nothing to merge", field="index")
        return bounded_int(index, field="index", minimum=0, maximum=last)

    def params(self) -> dict[str, Any]:
        """Shards, boundaries (keys as JSON), each range's owner and the key type."""
        return {
            "shards": list(self._shards),
            "boundaries": [key_to_json(bound) for bound in self.boundaries],
            "owners": list(self.owners),
            "key_type": self.key_type,
        }

    @classmethod
    def from_params(cls, data: Mapping[str, Any]) -> RangeRouter:
        """Return the range router `data` describes."""
        params = take_params(data, kind=cls.kind, required={"shards"}, optional={"boundaries", "owners", "key_type"})
        bounds = params.get("boundaries", [])
        if not isinstance(bounds, list):
            raise ValidationError("boundaries must be a list of keys in ascending order", field="boundaries")
        keys = [key_from_json(bound, field="boundaries") for bound in bounds]
        return cls(params["shards"], keys, params.get("owners"), key_type=params.get("key_type"))


def _key_type_of(boundaries: Sequence[Key], given: str | None) -> str:
    if given is not None and given not in KEY_TYPES:
        raise ValidationError(f"key_type must be one of {', '.join(KEY_TYPES)}; got {given!r}", field="key_type")
    types = {key_type(bound, field="boundaries") for bound in boundaries}
    if len(types) > 1:
        raise ValidationError(
            f"boundaries must all be of one key type; got {', '.join(sorted(types))}", field="boundaries"
        )
    found = types.pop() if types else None
    if given is not None and found is not None and found != given:
        raise ValidationError(
            f"boundaries are {found} keys but key_type says {given}; make them agree", field="key_type"
        )
    return given or found or "str"


def _owners(owners: Sequence[str] | None, shards: tuple[str, ...], count: int) -> tuple[str, ...]:
    if owners is None:
        if len(shards) != count:
            raise ValidationError(
                f"owners: {count} ranges need an owner each; give owners, or as many shards as ranges", field="owners"
            )
        return shards
    if not isinstance(owners, (list, tuple)) or len(owners) != count:
        raise ValidationError(
            f"owners must name one shard per range: {count} (one more than the boundaries)", field="owners"
        )
    for owner in owners:
        if owner not in shards:
            raise ValidationError(
                f"owners names unknown shard {owner!r}; add it to shards {list(shards)}", field="owners"
            )
    return tuple(owners)


def _shown(bound: Key | None) -> str:
    return "-inf" if bound is None else repr(bound)
