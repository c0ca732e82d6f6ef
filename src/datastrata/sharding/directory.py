"""A directory: an explicit key → shard table for pinned or isolated keys, in front of a fallback router."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from datastrata.core.errors import ValidationError
from datastrata.sharding.keys import Key, encode_key, key_from_json, key_to_json
from datastrata.sharding.names import check_shards
from datastrata.sharding.router import Router, take_params

#: The most keys a directory pins (it is for exceptions; route the bulk with the fallback).
MAX_ENTRIES = 100_000


class DirectoryRouter(Router):
    """Routes a key by its table entry when it has one, else by the fallback router.

    Keys match by their encoding, so the text ``"a"`` and the bytes ``b"a"`` are one key (as for every hash
    router). `shards` is the fallback's shards plus any shard only pinned keys use (an isolated hot key's own).
    """

    kind = "directory"

    def __init__(
        self, fallback: Router, table: Mapping[Key, str] | None = None, *, shards: Sequence[str] | None = None
    ) -> None:
        if not isinstance(fallback, Router) or isinstance(fallback, DirectoryRouter):
            raise ValidationError(
                "fallback must be a ring, jump, rendezvous or range router (a directory does not nest)",
                field="fallback",
            )
        self.fallback = fallback
        names = check_shards(list(shards) if shards is not None else list(fallback.shards))
        missing = [shard for shard in fallback.shards if shard not in names]
        if missing:
            raise ValidationError(
                f"shards must include every shard of the fallback router; {missing[0]!r} is missing", field="shards"
            )
        self._shards = names
        entries = dict(table or {})
        if len(entries) > MAX_ENTRIES:
            raise ValidationError(f"table must pin at most {MAX_ENTRIES} keys; got {len(entries)}", field="table")
        known = set(names)
        self._table: dict[bytes, str] = {}
        self._keys: dict[bytes, Key] = {}
        for key, shard in entries.items():
            if shard not in known:
                raise ValidationError(
                    f"table pins {key!r:.40} to unknown shard {shard!r}; add it to shards {list(names)} or pin to one "
                    "of them",
                    field="table",
                )
            encoded = encode_key(key, field="table")
            if encoded in self._table and self._table[encoded] != shard:
                raise ValidationError(
                    f"table pins key {key!r:.40} twice (by two spellings) to two shards", field="table"
                )
            self._table[encoded] = shard
            self._keys[encoded] = key

    @property
    def shards(self) -> tuple[str, ...]:
        """The fallback's shards, then the shards only pinned keys use."""
        return self._shards

    @property
    def table(self) -> dict[Key, str]:
        """The pinned keys and their shards, in key order."""
        return {self._keys[encoded]: self._table[encoded] for encoded in sorted(self._table)}

    def pinned(self, key: Key) -> str | None:
        """Return the shard `key` is pinned to, or None when the fallback routes it."""
        return self._table.get(encode_key(key))

    def route(self, key: Key) -> str:
        """The key's pinned shard, else the fallback's answer."""
        encoded = encode_key(key)
        pinned = self._table.get(encoded)
        return pinned if pinned is not None else self.fallback.route(key)

    def route_many(self, keys: Iterable[Key]) -> list[str]:
        """Each key's pinned shard, else the fallback's answer."""
        table, encode, fallback = self._table, encode_key, self.fallback.route
        out = []
        for key in keys:
            pinned = table.get(encode(key))
            out.append(pinned if pinned is not None else fallback(key))
        return out

    def pin(self, key: Key, shard: str) -> DirectoryRouter:
        """Return a directory with `key` pinned to `shard` (a new shard name is added to the shards)."""
        shards = self._shards if shard in self._shards else (*self._shards, shard)
        table = {self._keys[encoded]: owner for encoded, owner in self._table.items() if encoded != encode_key(key)}
        return DirectoryRouter(self.fallback, {**table, key: shard}, shards=shards)

    def unpin(self, key: Key) -> DirectoryRouter:
        """Return a directory without `key`'s entry (the key goes back to the fallback's shard)."""
        encoded = encode_key(key)
        if encoded not in self._table:
            raise ValidationError(f"key {key!r:.40} is not pinned; nothing to unpin", field="key")
        table = {self._keys[other]: owner for other, owner in self._table.items() if other != encoded}
        return DirectoryRouter(self.fallback, table, shards=self._shards)

    def params(self) -> dict[str, Any]:
        """Shards, the table as ``[key, shard]`` pairs in key order, and the fallback router's dict."""
        return {
            "shards": list(self._shards),
            "table": [[key_to_json(key), shard] for key, shard in self.table.items()],
            "fallback": self.fallback.to_dict(),
        }

    @classmethod
    def from_params(cls, data: Mapping[str, Any], decode: Callable[[Mapping[str, Any]], Router]) -> DirectoryRouter:
        """Return the directory `data` describes; `decode` reads the fallback router's dict."""
        params = take_params(data, kind=cls.kind, required={"fallback"}, optional={"shards", "table"})
        if not isinstance(params["fallback"], Mapping):
            raise ValidationError("fallback must be a router's dict with its kind", field="fallback")
        pairs = params.get("table", [])
        if not isinstance(pairs, list) or not all(isinstance(pair, list) and len(pair) == 2 for pair in pairs):
            raise ValidationError("table must be a list of [key, shard] pairs", field="table")
        if len(pairs) > MAX_ENTRIES:
            raise ValidationError(f"table must pin at most {MAX_ENTRIES} keys; got {len(pairs)}", field="table")
        table: dict[Key, str] = {}
        for key, shard in pairs:
            parsed = key_from_json(key, field="table")
            if parsed in table:
                raise ValidationError(f"table pins key {parsed!r:.40} twice; keep one entry", field="table")
            table[parsed] = shard
        return cls(decode(params["fallback"]), table, shards=params.get("shards"))
