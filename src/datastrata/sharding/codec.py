"""Routers to and from plain dicts (JSON): the kind names the router, the rest are its parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from datastrata.core.errors import ValidationError
from datastrata.sharding.directory import DirectoryRouter
from datastrata.sharding.jump import JumpRouter
from datastrata.sharding.ranges import RangeRouter
from datastrata.sharding.rendezvous import RendezvousRouter
from datastrata.sharding.ring import RingRouter
from datastrata.sharding.router import Router

_KINDS: dict[str, Callable[[Mapping[str, Any]], Router]] = {
    RingRouter.kind: RingRouter.from_params,
    JumpRouter.kind: JumpRouter.from_params,
    RendezvousRouter.kind: RendezvousRouter.from_params,
    RangeRouter.kind: RangeRouter.from_params,
    DirectoryRouter.kind: lambda data: DirectoryRouter.from_params(data, router_from_dict),
}
#: Every router kind, as a dict's ``kind`` names it.
ROUTER_KINDS = tuple(_KINDS)


def router_from_dict(data: Mapping[str, Any]) -> Router:
    """Return the router `data` (as :meth:`Router.to_dict` wrote it) describes; bad input is a ValidationError."""
    if not isinstance(data, Mapping):
        raise ValidationError(
            "a router must be a JSON object with its kind, e.g. {'kind': 'jump', 'shards': [...]}", field="kind"
        )
    kind = data.get("kind")
    decode = _KINDS.get(kind) if isinstance(kind, str) else None
    if decode is None:
        raise ValidationError(f"kind must be one of {', '.join(ROUTER_KINDS)}; got {kind!r}", field="kind")
    return decode(data)
