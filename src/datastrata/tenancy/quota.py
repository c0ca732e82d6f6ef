"""Storage quotas: a tenant's bytes are counted in the command's own transaction and refused past its tier's quota."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec

from datastrata.core.errors import RuleViolation
from datastrata.core.events import NewEvent
from datastrata.tenancy.tiers import TB, tier, upgrade_of

if TYPE_CHECKING:
    from datastrata.runtime.location import Work

_ENCODE = msgspec.json.Encoder().encode


def payload_bytes(events: Sequence[NewEvent]) -> int:
    """Return the bytes `events` store: their payloads as JSON."""
    return sum(len(_ENCODE(e.payload)) for e in events)


def charge(work: Work, nbytes: int, *, tenant: str | None = None) -> int:
    """Add `nbytes` to the usage of `tenant` (default: the work's) inside `work`; return its new total.

    Nothing is counted for a store with one tenant, or for ``default`` while nobody catalogued it. Past the
    tier's quota a RuleViolation names the quota and the upgrade, and the whole command rolls back with it.
    """
    directory = work.tenants
    if directory is None or nbytes <= 0:  # the runtime meters a work only once the store holds several tenants
        return 0
    who = tenant or work.scope.tenant
    placement = work.placement if work.placement is not None and who == work.placement.tenant else None
    placement = placement or directory.placement(who)  # another tenant's append (a platform job): cached a second
    if not placement.catalogued:
        return 0
    total = int(
        work.tx.scalar(
            "INSERT INTO tenancy_usage (tenant_id, bytes) VALUES (?, ?) ON CONFLICT (tenant_id) "
            "DO UPDATE SET bytes = tenancy_usage.bytes + excluded.bytes RETURNING bytes",
            (who, nbytes),
        )
    )
    limit = tier(placement.tier)
    if limit.quota_bytes is not None and total > limit.quota_bytes:
        raise RuleViolation(over_quota(who, placement.tier, total - nbytes, nbytes), field="quota")
    return total


def over_quota(tenant: str, tier_name: str, held: int, adding: int) -> str:
    """Return the refusal of a write that would take `tenant` past its tier's quota, with the upgrade path."""
    limit = tier(tier_name)
    up = upgrade_of(tier_name)
    upgrade = (
        f"upgrade: datastrata tenants move {tenant} --to {up.model} (tier {up.name})"
        if up is not None
        else "delete or archive data first"
    )
    return (
        f"tenant {tenant} ({tier_name}) holds {held / TB:.2f} TB of {limit.quota_text}; this write of {adding} bytes "
        f"would exceed its quota; {upgrade}"
    )
