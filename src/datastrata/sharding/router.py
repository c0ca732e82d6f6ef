"""The one router interface: a key goes to exactly one shard, the same in every process."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from datastrata.core.errors import ValidationError
from datastrata.sharding.keys import Key


class Router(ABC):
    """Maps a key (str, bytes or int) to one of its shards; immutable, pure, serialisable to a plain dict."""

    #: The router's kind, as its dict records it: ``ring``, ``jump``, ``rendezvous``, ``range``, ``directory``.
    kind: ClassVar[str]

    @property
    @abstractmethod
    def shards(self) -> tuple[str, ...]:
        """Every shard this router can answer, in its defined order."""

    @abstractmethod
    def route(self, key: Key) -> str:
        """Return the shard of `key`."""

    def route_many(self, keys: Iterable[Key]) -> list[str]:
        """Return the shard of each of `keys`, in order."""
        route = self.route
        return [route(key) for key in keys]

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Return the router's parameters as plain JSON values (everything :func:`router_from_dict` needs)."""

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"kind": …, **params}``: plain JSON that :func:`datastrata.sharding.router_from_dict` reads."""
        return {"kind": self.kind, **self.params()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Router) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.kind, self.shards))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shards={list(self.shards)!r})"


def take_params(data: Mapping[str, Any], *, kind: str, required: set[str], optional: set[str]) -> dict[str, Any]:
    """Return `data`'s parameters (without ``kind``) after checking none is missing and none is unknown."""
    params = {name: value for name, value in data.items() if name != "kind"}
    missing = sorted(required - params.keys())
    if missing:
        raise ValidationError(
            f"a {kind} router needs {', '.join(missing)}; add it to the router's dict", field=missing[0]
        )
    unknown = sorted(params.keys() - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise ValidationError(
            f"a {kind} router takes no {', '.join(unknown)}; its parameters are {allowed}", field=unknown[0]
        )
    return params
