"""``tenants offboard ID``: delete a tenant everywhere it has facts, once an export holds all of them.

Refused without an export newer than the tenant's last event (``tenants export`` first). Then, in each location
the placement names for the tenant, one transaction deletes its rows from every table that carries
``tenant_id`` (its subject keys and API keys too: everything sealed for it is unreadable, every key revoked) and
its events (``EventLog.delete_tenant_in``); its objects (``tenants/<id>/``) are deleted after the commit; a
dedicated model's place is destroyed by its provisioner. ``TenantOffboarded`` in the home log records it, and read
models holding the tenant's rows (the food graph) fold that event. Running it again finishes an interrupted run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from datastrata.core.errors import RuleViolation
from datastrata.core.events import NewEvent
from datastrata.core.tenancy import DEFAULT_TENANT, check_tenant_id, tenant
from datastrata.runtime.location import Location
from datastrata.runtime.scope import Scope
from datastrata.tenancy.export import RECORDS, TENANT_EXPORTED, record_scope, tenant_locations
from datastrata.tenancy.tables import children_first, tenant_tables

if TYPE_CHECKING:
    from datastrata.runtime import Runtime

TENANT_OFFBOARDED: Final = "TenantOffboarded"
#: Tables that keep the platform's record of the tenant (the catalogue row, in state ``offboarded``, and its audit).
KEPT: Final = frozenset({"tenancy_tenants", "tenancy_audit"})


@dataclass(frozen=True, slots=True)
class Offboarded:
    """What offboarding deleted: rows per table, events and objects per location."""

    tenant: str
    rows: dict[str, int]
    events: dict[str, int]
    objects: dict[str, int]
    export: str

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape."""
        return {
            "tenant": self.tenant,
            "rows": dict(self.rows),
            "events": dict(self.events),
            "objects": dict(self.objects),
            "export": self.export,
        }


def offboard_tenant(runtime: Runtime, tenant_id: str, *, actor: str) -> Offboarded:
    """Delete `tenant_id` everywhere (refused without a complete export); record it in the home log."""
    check_tenant_id(tenant_id)
    if tenant_id == DEFAULT_TENANT:
        raise RuleViolation(
            f"the tenant {DEFAULT_TENANT!r} keeps the platform's records and cannot be offboarded", field="tenant_id"
        )
    placement = runtime.tenants.placement(tenant_id)  # NotFound for a tenant the directory does not hold
    locations = tenant_locations(runtime, tenant_id)
    export = _latest_export(runtime, tenant_id)
    _refuse_newer(tenant_id, locations, export)
    rows: dict[str, int] = {}
    events: dict[str, int] = {}
    objects: dict[str, int] = {}
    with tenant(tenant_id):
        for location in locations:
            with location.transaction(Scope(RECORDS, tenant_id, tenant_id)) as work:
                for table in children_first(work, tenant_tables(work)):
                    if table.startswith("eventlog_") or table in KEPT:
                        continue  # the log deletes its own (events, snapshots, archive records)
                    deleted = work.execute(f"DELETE FROM {table} WHERE tenant_id = ?", (tenant_id,)).rowcount
                    if deleted:
                        rows[f"{location.name}/{table}"] = deleted
                events[location.name] = location.log.delete_tenant_in(work, tenant_id)
            objects[location.name] = _delete_objects(location, tenant_id)
    if placement.model != "shared":
        from datastrata.tenancy.models import provisioner

        provisioner(placement.model).destroy(runtime, tenant_id, placement.spec)
    done = Offboarded(tenant_id, rows, events, objects, str(export.get("to", "")))
    with tenant(DEFAULT_TENANT):
        runtime.append(record_scope(tenant_id), [NewEvent(TENANT_OFFBOARDED, {**done.to_dict(), "actor": actor})])
    return done


def _latest_export(runtime: Runtime, tenant_id: str) -> dict[str, Any]:
    with tenant(DEFAULT_TENANT):
        records = runtime.stream(record_scope(tenant_id))
    exports = [e.payload for e in records if e.type == TENANT_EXPORTED]
    if not exports:
        raise RuleViolation(
            f"tenant {tenant_id!r} has no export: write one first with "
            f"`datastrata tenants export {tenant_id} --to DIR`, then offboard",
            field="tenant_id",
        )
    return dict(exports[-1])


def _refuse_newer(tenant_id: str, locations: list[Location], export: dict[str, Any]) -> None:
    heads: dict[str, int] = dict(export.get("heads", {}))
    for location in locations:
        with location.read(Scope(RECORDS, tenant_id, tenant_id)) as tx:
            last = int(tx.scalar("SELECT MAX(position) FROM eventlog_events WHERE tenant_id = ?", (tenant_id,)) or 0)
        if last > heads.get(location.name, 0):
            raise RuleViolation(
                f"tenant {tenant_id!r} has events after its export to {export.get('to')} (position {last} in "
                f"{location.name}, exported up to {heads.get(location.name, 0)}); export again, then offboard",
                field="tenant_id",
            )


def _delete_objects(location: Location, tenant_id: str) -> int:
    if not location.spec.objects:
        return 0
    from datastrata.tiering.objects import ObjectStore

    store = ObjectStore(location.spec.objects)
    found = store.list(f"tenants/{tenant_id}/")
    for info in found:
        store.delete(info.key)
    return len(found)
