"""Master-data commands and queries: the bitemporal store, cache-aside reads, downstream copies, verify, alerts."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from datastrata.core.errors import NotFound, ValidationError
from datastrata.core.tenancy import current_tenant
from datastrata.core.validation import bounded_int
from datastrata.mdm.activation import ActivationJob
from datastrata.mdm.cache import DEFAULT_TTL, CachedReader
from datastrata.mdm.records import CONTEXT, AuditEntry, Change, MasterRecord
from datastrata.mdm.store import MasterDataStore
from datastrata.mdm.sync import CHANGE_EVENTS, DownstreamCopy, Drift, verify_copy
from datastrata.runtime import Runtime, Scope
from datastrata.stores.database import Tx
from datastrata.systems.masterdata.alerts import DRIFT, Alert, Alerts, GiveUpWatch
from datastrata.systems.masterdata.downstream import SYSTEMS, DownstreamSystem

#: How often the bus hands an event to a downstream subscriber before it is dead-lettered.
ATTEMPTS = 3


class MasterDataService:
    """Customers, products and suppliers with time travel, and the downstream systems that copy them."""

    def __init__(self, runtime: Runtime, *, cache_ttl: float = DEFAULT_TTL) -> None:
        self.runtime = runtime
        self.store = MasterDataStore(runtime, context=CONTEXT)
        self.reader = CachedReader(self.store, runtime.cache, ttl=cache_ttl)
        runtime.on_close(self.reader.close)
        self.alerts = Alerts(runtime, clock=runtime.clock)
        self.systems: dict[str, DownstreamSystem] = {s.spec.name: s for s in SYSTEMS}
        self.copies: dict[str, DownstreamCopy] = {
            name: DownstreamCopy(runtime, s.spec, context=CONTEXT) for name, s in self.systems.items()
        }
        for copy in self.copies.values():
            watch = GiveUpWatch(copy.name, copy.handle, ATTEMPTS, self.alerts)
            runtime.bus.subscribe(copy.name, watch, types=CHANGE_EVENTS, attempts=ATTEMPTS)
            runtime.on_close(functools.partial(runtime.bus.unsubscribe, copy.name))
        self.activation = ActivationJob(self.store, tenants=lambda: runtime.tenants.tenants())
        runtime.add_job("masterdata.activate", self.activation)

    # ---- commands ------------------------------------------------------------------------------------------

    def put(
        self,
        entity_type: str,
        entity_key: str,
        attributes: Mapping[str, Any],
        *,
        valid_from: datetime | None = None,
        valid_to: datetime | None = None,
        actor: str,
        reason: str = "",
        change_id: str | None = None,
    ) -> Change:
        """Assert a record's full attributes for [valid_from, valid_to) (default: from now on)."""
        return self.store.put(
            entity_type,
            entity_key,
            attributes,
            valid_from=valid_from,
            valid_to=valid_to,
            actor=actor,
            reason=reason,
            change_id=change_id,
        )

    def retire(
        self,
        entity_type: str,
        entity_key: str,
        *,
        valid_from: datetime | None = None,
        valid_to: datetime | None = None,
        actor: str,
        reason: str = "",
        change_id: str | None = None,
    ) -> Change:
        """Assert that a record is absent over [valid_from, valid_to) (default: from now on)."""
        return self.store.retire(
            entity_type,
            entity_key,
            valid_from=valid_from,
            valid_to=valid_to,
            actor=actor,
            reason=reason,
            change_id=change_id,
        )

    def activate(self) -> list[MasterRecord]:
        """Announce every future-dated version that has taken effect (what the worker job does each round)."""
        activated: list[MasterRecord] = []
        while batch := self.store.activate(limit=self.activation.limit):
            activated += batch
            if len(batch) < self.activation.limit:
                break
        return activated

    def settle(self) -> int:
        """Relay waiting events and deliver them to this process's subscribers until none are left.

        The worker does this continuously; a CLI command or test without a worker calls it after writing so the
        downstream copies catch up. Returns how many events were relayed or delivered.
        """
        total = 0
        while done := self.runtime.relay.run_once() + self.runtime.bus.poll():
            total += done
        return total

    def verify(self) -> list[Drift]:
        """Activate what is due, deliver what waits, then compare every copy with the truth and re-sync drift.

        Each drifted record is re-synced and alerted in one transaction per downstream system.
        """
        self.activate()
        self.settle()
        head = self.runtime.head(Scope.of(CONTEXT))
        now = self.store.clock()
        drifts: list[Drift] = []
        for copy in self.copies.values():
            drifts += verify_copy(copy, now=now, head=head, on_drift=self._alert_drift)
        return drifts

    def _alert_drift(self, tx: Tx, drift: Drift) -> None:
        detail = (
            f"{drift.consumer}'s copy of {drift.entity_type} {drift.entity_key!r} was {drift.problem} "
            f"(held {drift.found}, truth {drift.expected}); re-synced from the source of truth"
        )
        self.alerts.raise_in(
            tx,
            DRIFT,
            drift.consumer,
            detail,
            tenant_id=drift.tenant_id,
            entity_type=drift.entity_type,
            entity_key=drift.entity_key,
        )

    # ---- queries -------------------------------------------------------------------------------------------

    def get(
        self,
        entity_type: str,
        entity_key: str,
        *,
        as_of: datetime | None = None,
        as_known_at: datetime | None = None,
    ) -> MasterRecord:
        """Return a record now (through the cache), at `as_of`, or as known at `as_known_at` (from the store)."""
        found = self.reader.get(entity_type, entity_key, as_of=as_of, as_known_at=as_known_at)
        if found is None:
            when = "now" if as_of is None else f"at {as_of.isoformat()}"
            known = "" if as_known_at is None else f" as known at {as_known_at.isoformat()}"
            raise NotFound(
                f"{entity_type} {entity_key!r} has no version valid {when}{known}; check the key and the times, "
                f"or list its versions with `datastrata masterdata history {entity_type} {entity_key}`"
            )
        return found

    def history(self, entity_type: str, entity_key: str) -> list[MasterRecord]:
        """Return every version ever recorded for a record, superseded ones too."""
        versions = self.store.history(entity_type, entity_key)
        if not versions:
            raise NotFound(f"{entity_type} {entity_key!r} was never recorded; put it first")
        return versions

    def audit(
        self,
        *,
        entity_type: str | None = None,
        key: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
        after: tuple[datetime, int] | None = None,
    ) -> list[AuditEntry]:
        """Return who changed what, when and why, oldest first (after `after`: an entry's recorded time, position)."""
        limit = bounded_int(limit, field="limit", minimum=1)
        return self.store.audit(entity_type=entity_type, key=key, actor=actor, since=since, limit=limit, after=after)

    def alert_list(
        self,
        *,
        kind: str | None = None,
        key: str | None = None,
        consumer: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
        after: tuple[datetime, str] | None = None,
    ) -> list[Alert]:
        """Return drift and dead-letter alerts, oldest first (after `after`: an alert's raised time and id)."""
        limit = bounded_int(limit, field="limit", minimum=1)
        return self.alerts.list(kind=kind, entity_key=key, consumer=consumer, since=since, limit=limit, after=after)

    def downstream(self, entity_type: str, entity_key: str) -> list[dict[str, Any]]:
        """Return what each downstream system holds for a record: its copy and what it derived from it."""
        self.store.types.get(entity_type)
        found: list[dict[str, Any]] = []
        for name, copy in self.copies.items():
            if copy.entity_type != entity_type:
                continue
            with self.runtime.read(Scope.of(CONTEXT)) as tx:
                rows = copy.rows_in(tx, tenant_id=current_tenant(), entity_key=entity_key)
                derived = self.systems[name].read_derived(tx, current_tenant(), entity_key)
            found.append({"consumer": name, "copy": rows[0].to_dict() if rows else None, "derived": derived})
        if not found:
            raise ValidationError(
                f"no downstream system copies {entity_type}; downstream copies exist for "
                f"{sorted({c.entity_type for c in self.copies.values()})}",
                field="entity_type",
            )
        if all(row["copy"] is None for row in found) and not self.store.history(entity_type, entity_key):
            raise NotFound(f"{entity_type} {entity_key!r} was never recorded; put it first", field="entity_key")
        return found
