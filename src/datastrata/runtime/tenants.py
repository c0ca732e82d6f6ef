"""Which tenants exist and where each lives: the directory the runtime asks before any unit of work."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from datastrata.core.errors import NotFound, RuleViolation, TenantIsolationError
from datastrata.core.tenancy import DEFAULT_TENANT, bound
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.scope import Scope
from datastrata.stores.database import Database, Dialect
from datastrata.stores.migrations import Component

#: The isolation models a tenant can be placed in (DESIGN.md §8): pool, bridge and silo.
MODELS = ("shared", "dedicated-storage", "dedicated-infrastructure")

NO_TENANT = (
    "no tenant named: this store holds several tenants, so every command must say whose data it is; "
    "pass --tenant ID (or set DATASTRATA_TENANT), or call with a tenant's API key"
)


@dataclass(frozen=True, slots=True)
class TenantPlacement:
    """One tenant as the directory knows it: its tier and model, its state and epoch, and its own location if any."""

    tenant: str
    tier: str
    model: str
    state: str = "active"
    #: Bumped by every switch of a move: a process holding an older epoch re-reads the directory.
    epoch: int = 1
    #: The tenant's own location (dedicated storage or infrastructure); ``None``: the home location (shared).
    spec: LocationSpec | None = None
    #: False for ``default`` when nobody catalogued it: the platform's own tenant (no quota, the server's rate).
    catalogued: bool = True


class TenantDirectory(Protocol):
    """Answers whether a store holds several tenants and where each one lives."""

    def multi_tenant(self) -> bool:
        """True once any tenant but ``default`` exists (then a scope with no tenant is refused)."""

    def placement(self, tenant: str) -> TenantPlacement:
        """Return where `tenant` lives; raise NotFound for a tenant the directory does not hold."""

    def tenants(self) -> list[TenantPlacement]:
        """Return every tenant, in id order."""

    def invalidate(self) -> None:
        """Forget anything cached (after a change of the catalogue in this process)."""


class SingleTenant:
    """The directory of a store with one tenant, ``default``, in the shared home location."""

    def multi_tenant(self) -> bool:
        """Never: only ``default`` exists."""
        return False

    def placement(self, tenant: str) -> TenantPlacement:
        """Return ``default``'s placement; any other tenant is unknown."""
        if tenant != DEFAULT_TENANT:
            raise NotFound(f"no tenant {tenant!r}: this store has only {DEFAULT_TENANT!r}", field="tenant_id")
        return TenantPlacement(DEFAULT_TENANT, "indie", "shared", catalogued=False)

    def tenants(self) -> list[TenantPlacement]:
        """Return ``default`` alone."""
        return [self.placement(DEFAULT_TENANT)]

    def invalidate(self) -> None:
        """Nothing is cached."""


class ListedTenants:
    """A directory held in memory: the program places each tenant itself (embedding, benchmarks, tests).

    ``default`` is shared; every other tenant is what :meth:`place` was given. Nothing is stored or cached.
    """

    def __init__(self) -> None:
        self.placed: dict[str, TenantPlacement] = {}

    def place(self, placement: TenantPlacement) -> None:
        """Add `placement`'s tenant (or replace where it lives)."""
        self.placed[placement.tenant] = placement

    def multi_tenant(self) -> bool:
        """True once a tenant besides default was placed."""
        return bool(self.placed)

    def placement(self, tenant: str) -> TenantPlacement:
        """The tenant's placement; NotFound for one never placed."""
        if tenant == DEFAULT_TENANT:
            return TenantPlacement(DEFAULT_TENANT, "indie", "shared")
        try:
            return self.placed[tenant]
        except KeyError:
            raise NotFound(f"no tenant {tenant!r}", field="tenant_id") from None

    def tenants(self) -> list[TenantPlacement]:
        """Every placed tenant, in id order."""
        return [self.placed[t] for t in sorted(self.placed)]

    def invalidate(self) -> None:
        """Nothing is cached."""


def require_tenant(scope: Scope, directory: TenantDirectory) -> None:
    """Refuse a scope whose tenant nobody chose once the store holds several tenants (fail closed).

    A platform scope (``Scope.platform``) is allowed only inside the platform context (the worker's rounds, or an
    operator command that enters ``Runtime.as_platform``).
    """
    if scope.all_tenants:
        if not bound().platform:
            raise TenantIsolationError(
                f"a platform scope of {scope.context!r} spans every tenant: only the worker or an operator command "
                "acting as the platform (Runtime.as_platform) may use it",
                field="tenant_id",
            )
        return
    if not scope.explicit and directory.multi_tenant():
        raise TenantIsolationError(NO_TENANT, field="tenant_id")


def refuse_offboarded(placement: TenantPlacement) -> None:
    """Refuse a write of a tenant being offboarded (409) or offboarded (404: nothing of it is left)."""
    if placement.state == "offboarded":
        raise NotFound(f"tenant {placement.tenant!r} was offboarded: nothing of it is left", field="tenant_id")
    raise RuleViolation(
        f"tenant {placement.tenant!r} is being offboarded and takes no more writes; "
        f"`datastrata tenants show {placement.tenant}` shows its state",
        field="tenant_id",
    )


#: The states a catalogued tenant can be in.
STATES = ("active", "moving", "offboarding", "offboarded")


def _ddl(dialect: Dialect) -> str:
    time_type = "TEXT" if dialect == "sqlite" else "TIMESTAMPTZ"
    audit_id = "INTEGER PRIMARY KEY" if dialect == "sqlite" else "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    one_tree = " WITHOUT ROWID" if dialect == "sqlite" else ""  # the usage upsert touches one b-tree per command
    return f"""
CREATE TABLE IF NOT EXISTS tenancy_tenants (
    tenant_id   TEXT    PRIMARY KEY,
    tier        TEXT    NOT NULL,
    model       TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    epoch       BIGINT  NOT NULL DEFAULT 1,
    location    TEXT,
    store_enc   TEXT,
    graph       TEXT,
    objects     TEXT,
    namespace   TEXT,
    role        TEXT,
    created_at  {time_type} NOT NULL,
    updated_at  {time_type} NOT NULL
);
CREATE TABLE IF NOT EXISTS tenancy_usage (
    tenant_id   TEXT    PRIMARY KEY,
    bytes       BIGINT  NOT NULL DEFAULT 0
){one_tree};
CREATE TABLE IF NOT EXISTS tenancy_audit (
    id          {audit_id},
    at          {time_type} NOT NULL,
    actor       TEXT    NOT NULL,
    tenant_id   TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    detail      TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS tenancy_audit_by_tenant ON tenancy_audit (tenant_id, id);
"""


#: The catalogue's tables (a spine component: the home store's catalogue and audit; usage in every location).
MIGRATIONS = Component.baseline("tenancy", _ddl)
_COLUMNS = "tenant_id, tier, model, state, epoch, location, store_enc, graph, objects, namespace, role"


def placement_of(row: Any) -> TenantPlacement:
    """Return the placement a catalogue row holds (a sealed store URL is opened with the catalogue's key)."""
    tid, tier, model, state, epoch, location, store_enc, graph, objects, namespace, role = row
    spec = None
    if location is not None:
        from datastrata.tenancy.secrets import open_sealed

        store = open_sealed(str(tid), str(store_enc)) if store_enc else ""
        spec = LocationSpec(str(location), store, str(graph or ""), str(objects or ""), namespace, role)
    return TenantPlacement(str(tid), str(tier), str(model), str(state), int(epoch), spec)


class StoredDirectory:
    """The directory kept in the home store's catalogue (``tenancy_tenants``), cached for `ttl` seconds per tenant.

    ``multi_tenant()`` is monotonic: once a tenant other than ``default`` was seen it stays true for the process's
    life; while false it is re-read at most every `ttl` seconds.
    """

    def __init__(self, db: Database, ttl: float = 1.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.ttl = ttl
        self.clock = clock
        db.ensure(MIGRATIONS)
        self._multi = False
        self._multi_read = float("-inf")
        self._cache: dict[str, tuple[float, TenantPlacement]] = {}
        self._lock = threading.Lock()

    def multi_tenant(self) -> bool:
        """True once the catalogue holds a tenant other than ``default`` (then for good)."""
        if self._multi:
            return True
        now = self.clock()
        if now - self._multi_read < self.ttl:
            return False
        with self.db.read() as tx:
            found = tx.one("SELECT 1 FROM tenancy_tenants WHERE tenant_id <> ? LIMIT 1", (DEFAULT_TENANT,))
        with self._lock:
            self._multi = self._multi or found is not None
            self._multi_read = now
        return self._multi

    def placement(self, tenant: str) -> TenantPlacement:
        """Return where `tenant` lives (``default`` is there even uncatalogued); NotFound for an unknown tenant."""
        now = self.clock()
        cached = self._cache.get(tenant)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        with self.db.read() as tx:
            row = tx.one(f"SELECT {_COLUMNS} FROM tenancy_tenants WHERE tenant_id = ?", (tenant,))
        if row is None:
            if tenant != DEFAULT_TENANT:
                raise NotFound(
                    f"no tenant {tenant!r} in the catalogue; `datastrata tenants list` shows them", field="tenant_id"
                )
            found = SingleTenant().placement(DEFAULT_TENANT)
        else:
            found = placement_of(row)
        with self._lock:
            self._cache[tenant] = (now, found)
        return found

    def tenants(self) -> list[TenantPlacement]:
        """Return every catalogued tenant (and ``default``), in id order."""
        with self.db.read() as tx:
            rows = tx.query(f"SELECT {_COLUMNS} FROM tenancy_tenants ORDER BY tenant_id")
        found = [placement_of(r) for r in rows]
        if all(p.tenant != DEFAULT_TENANT for p in found):
            found = sorted([*found, SingleTenant().placement(DEFAULT_TENANT)], key=lambda p: p.tenant)
        return found

    def invalidate(self) -> None:
        """Forget the cached placements (the monotonic multi-tenant answer stays)."""
        with self._lock:
            self._cache.clear()
            self._multi_read = float("-inf")
