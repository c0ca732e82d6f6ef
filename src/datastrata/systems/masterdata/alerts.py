"""Alerts of the master-data system: copies that drifted and subscribers that gave up (``masterdata_alerts``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from datastrata.core.clock import Clock, ensure_utc, system_clock
from datastrata.core.errors import ValidationError
from datastrata.core.events import Event
from datastrata.core.ids import new_id
from datastrata.core.tenancy import current_tenant
from datastrata.mdm.records import CONTEXT, iso
from datastrata.runtime import Scope, Units
from datastrata.stores.database import Dialect, Tx, time_from_db, time_to_db
from datastrata.stores.migrations import Component

log = logging.getLogger(__name__)

DRIFT = "drift"
DEAD_LETTER = "dead_letter"
KINDS = (DRIFT, DEAD_LETTER)


def _ddl(dialect: Dialect) -> str:
    time = "TEXT" if dialect == "sqlite" else "TIMESTAMPTZ"
    return f"""
CREATE TABLE IF NOT EXISTS masterdata_alerts (
    alert_id    TEXT   PRIMARY KEY,
    tenant_id   TEXT   NOT NULL,
    kind        TEXT   NOT NULL CHECK (kind IN ('drift', 'dead_letter')),
    consumer    TEXT   NOT NULL,
    entity_type TEXT,
    entity_key  TEXT,
    event_id    TEXT,
    detail      TEXT   NOT NULL,
    raised_at   {time} NOT NULL
);
CREATE INDEX IF NOT EXISTS masterdata_alerts_raised ON masterdata_alerts (tenant_id, raised_at);
"""


#: The alerts table's schema.
MIGRATIONS = Component.baseline("masterdata.alerts", _ddl)


@dataclass(frozen=True, slots=True)
class Alert:
    """Something an operator should look at: which consumer, which record, what happened, when."""

    alert_id: str
    tenant_id: str
    kind: str
    consumer: str
    entity_type: str | None
    entity_key: str | None
    event_id: str | None
    detail: str
    raised_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict."""
        return {
            "alert_id": self.alert_id,
            "tenant_id": self.tenant_id,
            "kind": self.kind,
            "consumer": self.consumer,
            "entity_type": self.entity_type,
            "entity_key": self.entity_key,
            "event_id": self.event_id,
            "detail": self.detail,
            "raised_at": iso(self.raised_at),
        }


class Alerts:
    """The alert table: raise inside a transaction (with the repair it reports) or on its own."""

    def __init__(self, units: Units, *, clock: Clock = system_clock) -> None:
        self.units = units
        self.clock = clock
        units.ensure(MIGRATIONS)

    def raise_in(
        self,
        tx: Tx,
        kind: str,
        consumer: str,
        detail: str,
        *,
        tenant_id: str | None = None,
        entity_type: str | None = None,
        entity_key: str | None = None,
        event_id: str | None = None,
    ) -> None:
        """Record an alert inside `tx`."""
        if kind not in KINDS:
            raise ValidationError(f"alert kind must be one of {list(KINDS)}; got {kind!r}", field="kind")
        tx.execute(
            "INSERT INTO masterdata_alerts (alert_id, tenant_id, kind, consumer, entity_type, entity_key, event_id, "
            "detail, raised_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new_id(),
                tenant_id or current_tenant(),
                kind,
                consumer,
                entity_type,
                entity_key,
                event_id,
                detail,
                time_to_db(tx.dialect, self.clock()),
            ),
        )

    def list(
        self,
        *,
        kind: str | None = None,
        entity_key: str | None = None,
        consumer: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
        after: tuple[datetime, str] | None = None,
    ) -> list[Alert]:
        """Return the current tenant's alerts, oldest first, filtered by kind, record key, consumer and time.

        `after` (an alert's raised time and id) continues a listing after that alert (a keyset page).
        """
        if kind is not None and kind not in KINDS:
            raise ValidationError(f"alert kind must be one of {list(KINDS)}; got {kind!r}", field="kind")
        if limit < 1:
            raise ValidationError(f"limit must be at least 1; got {limit}", field="limit")
        sql = (
            "SELECT alert_id, tenant_id, kind, consumer, entity_type, entity_key, event_id, detail, raised_at "
            "FROM masterdata_alerts WHERE tenant_id = ?"
        )
        params: list[Any] = [current_tenant()]
        for column, value in (("kind", kind), ("entity_key", entity_key), ("consumer", consumer)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        with self.units.read(Scope.of(CONTEXT)) as tx:
            if since is not None:
                sql += " AND raised_at >= ?"
                params.append(time_to_db(tx.dialect, ensure_utc(since, field="since")))
            if after is not None:
                at = time_to_db(tx.dialect, after[0])
                sql += " AND (raised_at > ? OR (raised_at = ? AND alert_id > ?))"
                params += [at, at, after[1]]
            rows = tx.query(sql + " ORDER BY raised_at, alert_id LIMIT ?", [*params, limit])
        return [
            Alert(str(r[0]), str(r[1]), str(r[2]), str(r[3]), r[4], r[5], r[6], str(r[7]), time_from_db(r[8]))
            for r in rows
        ]


class GiveUpWatch:
    """Wraps a bus handler: counts failed attempts per event and raises a dead-letter alert on the last one.

    ``Bus.subscribe`` hands each event to the handler up to `attempts` times before ``Delivery`` records the dead
    letter; this wrapper sees the same attempts, so its alert accompanies exactly the events that are dead-lettered.
    """

    def __init__(self, consumer: str, handler: Callable[[Event], None], attempts: int, alerts: Alerts) -> None:
        self.consumer = consumer
        self.handler = handler
        self.attempts = attempts
        self.alerts = alerts
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        """Run the handler; on its last failed attempt record the alert, then re-raise for the dead letters."""
        try:
            self.handler(event)
        except Exception as exc:
            with self._lock:
                failures = self._failures.get(event.event_id, 0) + 1
                self._failures[event.event_id] = failures
                last = failures >= self.attempts
                if last:
                    del self._failures[event.event_id]
            if last:
                self._alert(event, f"{type(exc).__name__}: {exc}")
            raise
        with self._lock:
            self._failures.pop(event.event_id, None)

    def _alert(self, event: Event, error: str) -> None:
        payload = event.payload
        detail = (
            f"{self.consumer} gave up on {event.type} {event.event_id} (position {event.position}) after "
            f"{self.attempts} attempts: {error}; it is in the dead letters, and "
            "`datastrata masterdata verify` re-syncs the copy"
        )
        try:
            with self.alerts.units.transaction(Scope(CONTEXT, tenant=event.tenant_id)) as tx:
                self.alerts.raise_in(
                    tx,
                    DEAD_LETTER,
                    self.consumer,
                    detail,
                    tenant_id=event.tenant_id,
                    entity_type=payload.get("entity_type"),
                    entity_key=payload.get("entity_key"),
                    event_id=event.event_id,
                )
        except Exception:  # the dead letter itself is still recorded by Delivery
            log.exception("could not record the dead-letter alert of %s for %s", self.consumer, event.event_id)
