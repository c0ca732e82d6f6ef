"""The tenant catalogue: which tenants exist, their tier, model, state and location; every change audited."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from datastrata.core.errors import BackendUnavailable, ConcurrencyConflict, NotFound, ValidationError
from datastrata.core.redact import redact_url
from datastrata.core.tenancy import check_tenant_id, platform
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.scope import Scope
from datastrata.runtime.tenants import MIGRATIONS, STATES
from datastrata.stores.database import Tx, is_unique_violation, time_from_db, time_to_db
from datastrata.tenancy.models import provisioner
from datastrata.tenancy.secrets import require_key, seal
from datastrata.tenancy.tiers import TIERS, tier

if TYPE_CHECKING:
    from datastrata.runtime.runtime import Runtime

log = logging.getLogger(__name__)

#: The audit actor of a change made from this machine's command line.
LOCAL_ACTOR = "local"
_COLUMNS = (
    "tenant_id, tier, model, state, epoch, location, store_enc, graph, objects, namespace, role, created_at, updated_at"
)


@dataclass(frozen=True, slots=True)
class Tenant:
    """One catalogued tenant as operators see it (its store URL shown without its password)."""

    tenant: str
    tier: str
    model: str
    state: str
    epoch: int
    location: str | None
    store: str | None
    graph: str | None
    objects: str | None
    namespace: str | None
    role: str | None
    created_at: datetime
    updated_at: datetime
    #: Bytes of event payloads the tenant holds (counted by ``tenancy.quota``); None: its location is unreachable.
    usage_bytes: int | None = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape of ``tenants show`` and ``GET /tenants/{id}`` (never a secret)."""
        limit = TIERS[self.tier]
        return {
            "tenant": self.tenant,
            "tier": self.tier,
            "model": self.model,
            "state": self.state,
            "epoch": self.epoch,
            "location": None
            if self.location is None
            else {
                "name": self.location,
                "store": self.store,
                "graph": self.graph,
                "objects": self.objects,
                "namespace": self.namespace,
                "role": self.role,
            },
            "usage": {"bytes": self.usage_bytes, "quota_bytes": limit.quota_bytes, "quota": limit.quota_text},
            "monthly_usd": limit.monthly_usd,
            "sla_percent": limit.sla_percent,
            "rate": {"per_second": limit.rate, "burst": limit.burst},
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited change of the catalogue."""

    id: int
    at: datetime
    actor: str
    tenant: str
    action: str
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Return the entry as JSON-ready data."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "tenant": self.tenant,
            "action": self.action,
            "detail": self.detail,
        }


class Catalogue:
    """Adds tenants (provisioning their model's location), changes their tier and state, reads usage and audit."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.db = runtime.platform.db
        self.db.ensure(MIGRATIONS)

    def add(self, tenant: str, tier_name: str, *, store: str | None = None, actor: str = LOCAL_ACTOR) -> Tenant:
        """Catalogue `tenant` in `tier_name`, provisioning its tier's model (`store`: a silo's own store URL)."""
        check_tenant_id(tenant)
        chosen = tier(tier_name)
        with self.db.read() as tx:
            if tx.one("SELECT 1 FROM tenancy_tenants WHERE tenant_id = ?", (tenant,)) is not None:
                raise ConcurrencyConflict(
                    f"tenant {tenant!r} is already catalogued; `datastrata tenants show {tenant}`"
                )
        if chosen.model != "shared":
            require_key()  # its own location's store URL is kept sealed: no key, nothing is provisioned
        spec = provisioner(chosen.model).provision(self.runtime, tenant, store=store)
        try:
            with self.db.transaction() as tx:
                now = time_to_db(tx.dialect, self.runtime.clock())
                tx.execute(
                    f"INSERT INTO tenancy_tenants ({_COLUMNS}) VALUES (?, ?, ?, 'active', 1, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (tenant, chosen.name, chosen.model, *_location_columns(tenant, spec), now, now),
                )
                _audit(tx, now, actor, tenant, "add", {"tier": chosen.name, "model": chosen.model})
        except Exception as exc:
            provisioner(chosen.model).destroy(self.runtime, tenant, spec)  # nothing is left half made
            if is_unique_violation(exc):
                raise ConcurrencyConflict(f"tenant {tenant!r} was catalogued meanwhile by another process") from None
            raise
        self.runtime.tenants.invalidate()
        return self.get(tenant)

    def get(self, tenant: str) -> Tenant:
        """Return catalogued `tenant` with its usage, or raise NotFound."""
        with self.db.read() as tx:
            row = tx.one(f"SELECT {_COLUMNS} FROM tenancy_tenants WHERE tenant_id = ?", (check_tenant_id(tenant),))
        if row is None:
            raise NotFound(f"no tenant {tenant!r} in the catalogue; `datastrata tenants list` shows them", field="id")
        return _tenant(row, self.usage(tenant))

    def set_tier(self, tenant: str, tier_name: str, *, actor: str = LOCAL_ACTOR) -> Tenant:
        """Change `tenant`'s tier (its quota and rate); moving it to the tier's model is the move workflow's job."""
        chosen = tier(tier_name)
        self._update(tenant, "tier", chosen.name, actor)
        return self.get(tenant)

    def set_state(self, tenant: str, state: str, *, actor: str = LOCAL_ACTOR) -> Tenant:
        """Change `tenant`'s state (active, moving, offboarding, offboarded)."""
        if state not in STATES:
            raise ValidationError(f"state must be one of {', '.join(STATES)}; got {state!r}", field="state")
        self._update(tenant, "state", state, actor)
        return self.get(tenant)

    def note(self, tenant: str, action: str, detail: dict[str, Any], *, actor: str = LOCAL_ACTOR) -> None:
        """Write one audit entry about `tenant` (a step of a workflow such as offboarding) in its own transaction."""
        with self.db.transaction() as tx:
            _audit(tx, time_to_db(tx.dialect, self.runtime.clock()), actor, check_tenant_id(tenant), action, detail)

    def set_offboarded(self, tenant: str, *, actor: str = LOCAL_ACTOR) -> Tenant:
        """Mark `tenant` offboarded and forget its location and sealed credentials (the row and audit are kept)."""
        with self.db.transaction() as tx:
            row = tx.one("SELECT state, location FROM tenancy_tenants WHERE tenant_id = ?", (check_tenant_id(tenant),))
            if row is None:
                raise NotFound(f"no tenant {tenant!r} in the catalogue; `datastrata tenants list` shows them")
            now = time_to_db(tx.dialect, self.runtime.clock())
            tx.execute(
                "UPDATE tenancy_tenants SET state = 'offboarded', location = NULL, store_enc = NULL, graph = NULL, "
                "objects = NULL, namespace = NULL, role = NULL, updated_at = ? WHERE tenant_id = ?",
                (now, tenant),
            )
            _audit(tx, now, actor, tenant, "set_state", {"from": str(row[0]), "to": "offboarded", "location": row[1]})
        self.runtime.tenants.invalidate()
        return self.get(tenant)

    def place(
        self, tenant: str, model: str, spec: LocationSpec | None, *, switched: bool, actor: str = LOCAL_ACTOR
    ) -> int:
        """Make `tenant` active in `model` at `spec` (None: the shared home); a move's switch bumps the epoch.

        What a move's placer does at its switch (`switched`) and when it leaves the tenant at its source; returns the
        tenant's epoch. Audited like every change.
        """
        bump = " + 1" if switched else ""
        with self.db.transaction() as tx:
            row = tx.one("SELECT model, epoch FROM tenancy_tenants WHERE tenant_id = ?", (check_tenant_id(tenant),))
            if row is None:
                raise NotFound(f"no tenant {tenant!r} in the catalogue; `datastrata tenants list` shows them")
            now = time_to_db(tx.dialect, self.runtime.clock())
            tx.execute(
                "UPDATE tenancy_tenants SET model = ?, state = 'active', epoch = epoch" + bump + ", location = ?, "
                "store_enc = ?, graph = ?, objects = ?, namespace = ?, role = ?, updated_at = ? WHERE tenant_id = ?",
                (model, *_location_columns(tenant, spec), now, tenant),
            )
            action = "switch" if switched else "stay"
            _audit(tx, now, actor, tenant, action, {"from": str(row[0]), "to": model, "location": spec and spec.name})
            epoch = int(row[1]) + (1 if switched else 0)
        self.runtime.tenants.invalidate()
        return epoch

    def usage(self, tenant: str) -> int | None:
        """Return the bytes `tenant` holds, counted in its own location (None when that location cannot be reached:
        one tenant's server being down does not stop listing or showing the others)."""
        try:
            with self.runtime.read(Scope("tenancy", tenant=check_tenant_id(tenant))) as work:
                found = work.scalar("SELECT bytes FROM tenancy_usage WHERE tenant_id = ?", (tenant,))
        except BackendUnavailable as exc:
            log.warning("tenant %s: usage unknown, its location is unreachable: %s", tenant, exc)
            return None
        return int(found or 0)

    def audit(self, tenant: str | None = None, *, limit: int = 100) -> list[AuditEntry]:
        """Return the newest `limit` audited changes (of one tenant, if named), oldest first."""
        where, params = ("WHERE tenant_id = ? ", (tenant,)) if tenant is not None else ("", ())
        with self.db.read() as tx:
            rows = tx.query(
                f"SELECT id, at, actor, tenant_id, action, detail FROM tenancy_audit {where}ORDER BY id DESC LIMIT ?",
                (*params, limit),
            )
        return [
            AuditEntry(int(i), time_from_db(at), str(a), str(t), str(act), json.loads(str(d)))
            for i, at, a, t, act, d in reversed(rows)
        ]

    def list(self) -> list[Tenant]:
        """Return every catalogued tenant, in id order, with its usage (read in its own location if it has one)."""
        with platform(), self.db.read() as tx:  # every shared tenant's usage row: read as the platform (RLS)
            rows = tx.query(f"SELECT {_COLUMNS} FROM tenancy_tenants ORDER BY tenant_id")
            used = {str(t): int(b) for t, b in tx.query("SELECT tenant_id, bytes FROM tenancy_usage")}
        return [_tenant(r, used.get(str(r[0]), 0) if r[5] is None else self.usage(str(r[0]))) for r in rows]

    def _update(self, tenant: str, column: str, value: str, actor: str) -> None:
        with self.db.transaction() as tx:
            row = tx.one(f"SELECT {column} FROM tenancy_tenants WHERE tenant_id = ?", (check_tenant_id(tenant),))
            if row is None:
                raise NotFound(f"no tenant {tenant!r} in the catalogue; `datastrata tenants list` shows them")
            now = time_to_db(tx.dialect, self.runtime.clock())
            tx.execute(
                f"UPDATE tenancy_tenants SET {column} = ?, updated_at = ? WHERE tenant_id = ?", (value, now, tenant)
            )
            _audit(tx, now, actor, tenant, f"set_{column}", {"from": str(row[0]), "to": value})
        self.runtime.tenants.invalidate()


def _location_columns(tenant: str, spec: LocationSpec | None) -> tuple[Any, ...]:
    if spec is None:
        return (None, None, None, None, None, None)
    store = seal(tenant, spec.store) if spec.store else None  # credentials only ever stored sealed
    return (spec.name, store, spec.graph or None, spec.objects or None, spec.namespace, spec.role)


def _audit(tx: Tx, at: Any, actor: str, tenant: str, action: str, detail: dict[str, Any]) -> None:
    tx.execute(
        "INSERT INTO tenancy_audit (at, actor, tenant_id, action, detail) VALUES (?, ?, ?, ?, ?)",
        (at, actor, tenant, action, json.dumps(detail, sort_keys=True)),
    )


def _tenant(row: Any, usage: int | None) -> Tenant:
    tid, tier_name, model, state, epoch, location, store_enc, graph, objects, namespace, role, created, updated = row
    store = None
    if store_enc:
        from datastrata.tenancy.secrets import open_sealed

        store = redact_url(open_sealed(str(tid), str(store_enc)))
    return Tenant(
        str(tid),
        str(tier_name),
        str(model),
        str(state),
        int(epoch),
        None if location is None else str(location),
        store,
        None if graph is None else str(graph),
        None if objects is None else str(objects),
        None if namespace is None else str(namespace),
        None if role is None else str(role),
        time_from_db(created),
        time_from_db(updated),
        usage,
    )


def catalogue_of(runtime: Runtime) -> Catalogue:
    """Return the catalogue of `runtime`'s home store (one per runtime)."""
    found: Catalogue = runtime.service("tenancy.catalogue", Catalogue)
    return found
