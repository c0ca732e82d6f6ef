"""``tenants offboard ID``: delete a tenant everywhere it has facts, once an export holds all of them.

Refused for ``default``, a moving tenant and one without an export newer than its last event. The catalogue marks
the tenant ``offboarding`` (from then on it takes no writes; its keys stop working), waits until every process has
seen that, then per location: its rows in shared cold Parquet parts (each part holding them rewritten without
them, :mod:`datastrata.tiering.tenantrows`; refused before anything changes while such a part is archived and not
restored), its objects (``tenants/<id>/`` and its archived streams' segments) and, in one
transaction, its rows of every table that carries ``tenant_id`` (subject keys and API keys included) and its events
(``EventLog.delete_tenant_in``). A location of its own (a bridge schema or file, a silo database or folder) is
destroyed by its model's provisioner. Each finished step is an audit entry (``offboard_step``), so running the
command again after a crash skips what was done and finishes the rest; ``TenantOffboarded`` in the operator's
stream records the result, and the catalogue row stays, ``offboarded``, without its location.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from datastrata.core.errors import RuleViolation
from datastrata.core.events import NewEvent
from datastrata.core.tenancy import DEFAULT_TENANT, check_tenant_id, tenant
from datastrata.runtime.location import Location, LocationSpec
from datastrata.runtime.scope import Scope
from datastrata.runtime.tenants import TenantPlacement, placement_of
from datastrata.stores.database import Tx
from datastrata.stores.tables import children_first, table_names, tenant_tables
from datastrata.tenancy.catalogue import LOCAL_ACTOR, Catalogue, catalogue_of
from datastrata.tenancy.export import RECORDS, TENANT_EXPORTED, TENANT_OFFBOARDED, record_scope, refuse_default

if TYPE_CHECKING:
    from datastrata.runtime import Runtime
    from datastrata.tiering.tenantrows import TenantRows

__all__ = ["TENANT_OFFBOARDED", "Offboarded", "check_offboarding", "offboard_tenant"]

#: The audit action of each finished step (``detail``: the location, the step, what it deleted).
STEP: Final = "offboard_step"
#: Tables that keep the platform's record of the tenant (the catalogue row, in state ``offboarded``, and its audit).
KEPT: Final = frozenset({"tenancy_tenants", "tenancy_audit"})
#: Tables outside the tenant rules whose rows a tenant owns by another column: the grants it gave, and their audit
#: (grants other tenants gave it are theirs, and stay).
OWNED_BY: Final = {"tenancy_grant_audit": "owner", "tenancy_grants": "owner"}
_COLUMNS: Final = "tenant_id, tier, model, state, epoch, location, store_enc, graph, objects, namespace, role"


@dataclass(frozen=True, slots=True)
class Offboarded:
    """What offboarding deleted: rows per location and table, events and objects per location, places destroyed."""

    tenant: str
    rows: dict[str, int]
    events: dict[str, int]
    objects: dict[str, int]
    destroyed: tuple[str, ...]
    export: str
    #: Rows taken out of shared cold Parquet parts, per location.
    cold: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape (``tenants offboard --json``, ``POST /tenants/{id}/offboard``)."""
        return {
            "tenant": self.tenant,
            "state": "offboarded",
            "rows": dict(self.rows),
            "events": dict(self.events),
            "objects": dict(self.objects),
            "destroyed": list(self.destroyed),
            "export": self.export,
            "cold_rows": dict(self.cold),
        }


def check_offboarding(runtime: Runtime, tenant_id: str) -> str:
    """Refuse now what offboarding `tenant_id` would refuse (``default``, unknown, moving, no fresh export).

    Return the tenant's catalogue state (``active``, ``offboarding`` to finish, ``offboarded``: nothing to do).
    """
    refuse_default(check_tenant_id(tenant_id), "offboarded")
    state = catalogue_of(runtime).get(tenant_id).state  # NotFound (404) for a tenant the catalogue does not hold
    if state == "moving":
        raise RuleViolation(
            f"tenant {tenant_id!r} is moving; wait until `datastrata tenants move-status {tenant_id}` says it "
            f"completed (or reverse it), then offboard",
            field="tenant_id",
        )
    if state == "offboarded":
        return state
    placement = _placement(catalogue_of(runtime), tenant_id)
    if state == "active":
        _refuse_newer(runtime, placement, _latest_export(runtime, tenant_id))
    with runtime.as_platform():
        for location in _rewritten(runtime, tenant_id, placement):
            cold = _cold_rows(runtime, location)
            if cold is not None:  # a part that may hold its rows must be readable: refused before anything changes
                cold.readable_share(tenant_id, "offboarding")
    return state


def offboard_tenant(runtime: Runtime, tenant_id: str, *, actor: str = LOCAL_ACTOR) -> Offboarded:
    """Delete `tenant_id` everywhere (refused without a complete export); finish an interrupted run."""
    state = check_offboarding(runtime, tenant_id)
    if state == "offboarded":
        return _recorded(runtime, tenant_id)
    catalogue = catalogue_of(runtime)
    placement = _placement(catalogue, tenant_id)
    export = _latest_export(runtime, tenant_id)
    if state == "active":
        catalogue.set_state(tenant_id, "offboarding", actor=actor)
        time.sleep(2 * float(getattr(runtime.tenants, "ttl", 0.0)))  # every process now refuses its writes
        try:
            _refuse_newer(runtime, placement, export)  # a write that slipped in before every process saw it
        except RuleViolation:
            catalogue.set_state(tenant_id, "active", actor=actor)
            raise
    done = _steps(catalogue, tenant_id)
    home = runtime.home
    if (home.name, "deleted") not in done:
        _delete_in(runtime, catalogue, home, tenant_id, actor)
    own = placement.spec
    kept = own is not None and _leaves_store(runtime, tenant_id, placement.model, own)
    if own is not None and (own.name, "deleted") not in done:
        if kept:
            _delete_in(runtime, catalogue, runtime.location(own), tenant_id, actor)
        else:  # the provisioner drops it whole: say what went with it
            _counted(runtime, catalogue, runtime.location(own), tenant_id, actor)
    for location in _rewritten(runtime, tenant_id, placement):  # after its tables: no tiering run adds a part now
        if (location.name, "cold") not in done:
            _take_cold_rows(runtime, catalogue, location, tenant_id, actor)
    if own is not None and (own.name, "destroyed") not in done:
        from datastrata.tenancy.models import provisioner

        provisioner(placement.model).destroy(runtime, tenant_id, own)
        detail = {"location": own.name, "step": "destroyed", "dropped": not kept}  # an operator's store: let go
        catalogue.note(tenant_id, STEP, detail, actor=actor)
    result = _result(catalogue, tenant_id, str(export.get("to", "")))
    with tenant(DEFAULT_TENANT):  # one id per tenant: a run finished again after a crash records it once
        event = NewEvent(TENANT_OFFBOARDED, {**result.to_dict(), "actor": actor}, event_id=f"offboarded-{tenant_id}")
        runtime.append(record_scope(tenant_id), [event])
    catalogue.set_offboarded(tenant_id, actor=actor)
    return result


def _placement(catalogue: Catalogue, tenant_id: str) -> TenantPlacement:
    """The tenant's placement read from the catalogue now (not a cached one)."""
    with catalogue.db.read() as tx:
        row = tx.one(f"SELECT {_COLUMNS} FROM tenancy_tenants WHERE tenant_id = ?", (tenant_id,))
    assert row is not None
    return placement_of(row)


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


def _locations(runtime: Runtime, placement: TenantPlacement) -> list[Location]:
    found = [runtime.home]
    if placement.spec is not None:
        found.append(runtime.location(placement.spec))
    return found


def _refuse_newer(runtime: Runtime, placement: TenantPlacement, export: dict[str, Any]) -> None:
    """Refuse when a location holds an event of the tenant after the position its newest export recorded."""
    heads: dict[str, int] = {str(k): int(v) for k, v in dict(export.get("heads", {})).items()}
    who = placement.tenant
    for location in _locations(runtime, placement):
        with tenant(who), location.read(Scope(RECORDS, who, who)) as work:
            last = int(work.scalar("SELECT MAX(position) FROM eventlog_events WHERE tenant_id = ?", (who,)) or 0)
        if last > heads.get(location.name, 0):
            raise RuleViolation(
                f"tenant {who!r} has events after its export to {export.get('to')} (position {last} in "
                f"{location.name}, exported up to {heads.get(location.name, 0)}); export again "
                f"(`datastrata tenants export {who} --to DIR`), then offboard",
                field="tenant_id",
            )


def _leaves_store(runtime: Runtime, tenant_id: str, model: str, spec: LocationSpec) -> bool:
    """True when the provisioner leaves the tenant's store in place (a silo on a store the operator gave)."""
    if model != "dedicated-infrastructure":
        return False
    from datastrata.tenancy.naming import DEDICATED_INFRASTRUCTURE, tenant_spec

    made = tenant_spec(runtime.home.spec, tenant_id, DEDICATED_INFRASTRUCTURE)
    return made is None or made.store != spec.store


def _rewritten(runtime: Runtime, tenant_id: str, placement: TenantPlacement) -> list[Location]:
    """The locations whose cold parts lose the tenant's rows: the home, and a silo on the operator's own store (a
    location the provisioner drops takes its parts with it)."""
    found = [runtime.home]
    own = placement.spec
    if own is not None and _leaves_store(runtime, tenant_id, placement.model, own):
        found.append(runtime.location(own))
    return found


def _cold_rows(runtime: Runtime, location: Location) -> TenantRows | None:
    """The cold row parts of `location`, reached through the platform's pool (None: it has no object store)."""
    if not location.spec.objects:
        return None
    from datastrata.tiering.objects import ObjectStore
    from datastrata.tiering.tenantrows import TenantRows

    db = runtime.platform.db if location is runtime.home else location.db
    return TenantRows(db, ObjectStore(location.spec.objects, clock=location.clock))


def _take_cold_rows(runtime: Runtime, catalogue: Catalogue, location: Location, tenant_id: str, actor: str) -> None:
    """Rewrite every cold part of `location` holding the tenant's rows without them; audit the step (when a part
    held some: a location without any has nothing to record, and is looked at again by a run after a crash).

    Redone after a crash, a part rewritten already holds none of its rows and is left as it is.
    """
    parts = rows = 0
    with runtime.as_platform():
        cold = _cold_rows(runtime, location)
        if cold is not None:
            parts, rows = cold.remove(tenant_id, "offboarding")
    if not parts:
        return
    detail = {"location": location.name, "step": "cold", "parts": parts, "rows": rows}
    catalogue.note(tenant_id, STEP, detail, actor=actor)


def _delete_in(runtime: Runtime, catalogue: Catalogue, location: Location, tenant_id: str, actor: str) -> None:
    """Delete the tenant's objects, then its rows and events in one transaction of `location`; audit the step."""
    objects = _delete_objects(runtime, location, tenant_id)
    rows: dict[str, int] = {}
    with runtime.as_platform():  # the platform's pool and binding: it may delete from the log
        db = runtime.platform.db if location is runtime.home else location.db
        with db.transaction() as tx:
            for table in children_first(tx, tenant_tables(tx)):
                if table.startswith("eventlog_") or table in KEPT:
                    continue  # the log deletes its own (events, snapshots, archive records)
                deleted = tx.execute(f"DELETE FROM {table} WHERE tenant_id = ?", (tenant_id,)).rowcount
                if deleted:
                    rows[table] = deleted
            present = set(table_names(tx))
            for table, column in OWNED_BY.items():
                if table in present:
                    deleted = tx.execute(f"DELETE FROM {table} WHERE {column} = ?", (tenant_id,)).rowcount
                    if deleted:
                        rows[table] = deleted
            events = location.log.delete_tenant_in(tx, tenant_id)
    detail = {"location": location.name, "step": "deleted", "rows": rows, "events": events, "objects": objects}
    catalogue.note(tenant_id, STEP, detail, actor=actor)


def _counted(runtime: Runtime, catalogue: Catalogue, location: Location, tenant_id: str, actor: str) -> None:
    """Audit what a location about to be destroyed holds of the tenant (its rows, events and objects)."""
    rows: dict[str, int] = {}
    with tenant(tenant_id), location.read(Scope(RECORDS, tenant_id, tenant_id)) as work:
        for table in tenant_tables(work):
            if table.startswith("eventlog_") or table in KEPT:
                continue
            n = int(work.scalar(f"SELECT COUNT(*) FROM {table} WHERE tenant_id = ?", (tenant_id,)))
            if n:
                rows[table] = n
        events = int(work.scalar("SELECT COUNT(*) FROM eventlog_events WHERE tenant_id = ?", (tenant_id,)))
    objects = len(_object_store(location).list()) if location.spec.objects else 0
    detail = {"location": location.name, "step": "deleted", "rows": rows, "events": events, "objects": objects}
    catalogue.note(tenant_id, STEP, detail, actor=actor)


def _object_store(location: Location) -> Any:
    from datastrata.tiering.objects import ObjectStore

    return ObjectStore(location.spec.objects)


def _delete_objects(runtime: Runtime, location: Location, tenant_id: str) -> int:
    """Delete the tenant's objects of `location`: under ``tenants/<id>/`` and its archived streams' segments."""
    if not location.spec.objects:
        return 0
    store = _object_store(location)
    with runtime.as_platform():
        db = runtime.platform.db if location is runtime.home else location.db
        with db.read() as tx:
            segments = _segment_keys(tx, tenant_id)
    keys = {info.key for info in store.list(f"tenants/{tenant_id}/")} | {k for k in segments if store.exists(k)}
    for key in sorted(keys):
        store.delete(key)
    return len(keys)


def _segment_keys(tx: Tx, tenant_id: str) -> list[str]:
    rows = tx.query("SELECT location FROM eventlog_archived_streams WHERE tenant_id = ?", (tenant_id,))
    return [str(r[0]) for r in rows if r[0]]


def _steps(catalogue: Catalogue, tenant_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The steps of this offboarding already done, by (location, step), from the audit."""
    done: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in catalogue.audit(tenant_id, limit=1000):
        if entry.action == "set_state" and entry.detail.get("to") == "offboarding":
            done = {}  # an earlier attempt that was called off (set active again) does not count
        elif entry.action == STEP:
            done[(str(entry.detail["location"]), str(entry.detail["step"]))] = entry.detail
    return done


def _result(catalogue: Catalogue, tenant_id: str, export: str) -> Offboarded:
    rows: dict[str, int] = {}
    events: dict[str, int] = {}
    objects: dict[str, int] = {}
    destroyed: list[str] = []
    cold: dict[str, int] = {}
    for (name, step), detail in _steps(catalogue, tenant_id).items():
        if step == "cold":
            cold[name] = int(detail.get("rows", 0))
            continue
        if step == "destroyed":
            destroyed += [name] if detail.get("dropped", True) else []
            continue
        rows.update({f"{name}/{table}": int(n) for table, n in dict(detail.get("rows", {})).items()})
        events[name] = int(detail.get("events", 0))
        objects[name] = int(detail.get("objects", 0))
    return Offboarded(tenant_id, rows, events, objects, tuple(destroyed), export, cold)


def _recorded(runtime: Runtime, tenant_id: str) -> Offboarded:
    """The result an earlier, finished offboarding recorded."""
    with tenant(DEFAULT_TENANT):
        records = runtime.stream(record_scope(tenant_id))
    done = [e.payload for e in records if e.type == TENANT_OFFBOARDED][-1]
    return Offboarded(
        tenant_id,
        {str(k): int(v) for k, v in dict(done["rows"]).items()},
        {str(k): int(v) for k, v in dict(done["events"]).items()},
        {str(k): int(v) for k, v in dict(done["objects"]).items()},
        tuple(str(d) for d in done.get("destroyed", [])),
        str(done.get("export", "")),
        {str(k): int(v) for k, v in dict(done.get("cold_rows", {})).items()},
    )
