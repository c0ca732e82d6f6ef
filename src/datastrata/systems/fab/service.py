"""The fab's hot path: sensors, batches of readings stored with their alerts in one transaction, the alerts."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from datastrata.core.errors import ConcurrencyConflict, RuleViolation, ValidationError
from datastrata.core.events import Event, NewEvent
from datastrata.core.validation import bounded_int, bounded_list
from datastrata.runtime import Runtime, Scope, Work
from datastrata.stores.database import time_from_db, time_to_db
from datastrata.systems.fab import domain
from datastrata.systems.fab.domain import Limit, Reading
from datastrata.systems.fab.lifecycle import FabTiers
from datastrata.systems.fab.reports import FabReports
from datastrata.systems.fab.schema import MIGRATIONS
from datastrata.writes.commands import CommandHandler
from datastrata.writes.idempotency import check_key, event_id_for

#: The bounded context of the fab: its alerts are the stream ``fab-alerts``.
CONTEXT = "fab"
#: The type of the event a threshold crossing records.
ALERT = "ThresholdCrossed"


@dataclass(frozen=True, slots=True)
class Ingested:
    """A stored batch: how many readings and alerts, and each alert's latency (reading time → alert committed)."""

    batch_id: str
    readings: int
    alerts: int
    duplicate: bool
    alert_times: tuple[datetime, ...] = ()
    #: Seconds from each alert's reading time to the commit of its batch (empty for a replayed batch).
    latencies: tuple[float, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape of the outcome."""
        return {
            "batch_id": self.batch_id,
            "readings": self.readings,
            "alerts": self.alerts,
            "duplicate": self.duplicate,
            "alert_latency_max_s": max(self.latencies, default=None),
        }

    def to_stored(self) -> dict[str, Any]:
        """The outcome as kept with the batch id."""
        return {"batch_id": self.batch_id, "readings": self.readings, "alerts": self.alerts}

    @classmethod
    def replayed(cls, stored: dict[str, Any]) -> Ingested:
        """A stored outcome, marked as a replay."""
        return cls(str(stored["batch_id"]), int(stored["readings"]), int(stored["alerts"]), True)


class FabService:
    """Sensors, batches of readings with threshold alerts, and (through its parts) tiers, queries and reports."""

    def __init__(self, runtime: Runtime, *, limits: dict[str, Limit] | None = None) -> None:
        runtime.ensure(MIGRATIONS)
        self.runtime = runtime
        self.clock = runtime.clock
        self.limits = limits or domain.default_limits()
        self.commands = CommandHandler(runtime)
        self.tiers = FabTiers(runtime)
        self.reports = FabReports(runtime, self.tiers, self.alerts_between)
        runtime.add_job("fab:tiering", self.tiers.job)

    @staticmethod
    def scope() -> Scope:
        """The scope of the fab's alert stream, for the current tenant."""
        return Scope.of(CONTEXT, "alerts")

    # ---- commands ------------------------------------------------------------------------------------------

    def register_sensors(self, sensors: Sequence[tuple[str, str]], *, key: str | None = None) -> int:
        """Register sensors as (sensor id, kind); a known id keeps its kind (another kind is refused)."""
        bounded_list(list(sensors), field="sensors", min_items=1, max_items=domain.MAX_REGISTER)
        checked = [
            (
                domain.check_sensor_id(s, field=f"sensors[{i}].sensor_id"),
                domain.check_kind(k, field=f"sensors[{i}].kind"),
            )
            for i, (s, k) in enumerate(sensors)
        ]

        def body(work: Work) -> int:
            known = self._sensors(work, lock=False)
            for i, (sensor, kind) in enumerate(checked):
                if sensor in known and known[sensor][0] != kind:
                    raise RuleViolation(
                        f"sensors[{i}]: sensor {sensor!r} is registered as {known[sensor][0]}, not {kind}; a sensor "
                        "keeps its kind (register a new id for another kind)",
                        field=f"sensors[{i}].kind",
                    )
            new = sorted({s: k for s, k in checked if s not in known}.items())
            work.executemany(
                "INSERT INTO fab_sensors (tenant_id, sensor_id, kind, alarm) VALUES (?, ?, ?, 0)",
                [(work.scope.tenant, s, k) for s, k in new],
            )
            return len(new)

        return self.commands.run(
            "register",
            self.scope(),
            body,
            encode=lambda n: {"registered": n},
            decode=lambda stored: int(stored["registered"]),
            key=key,
            content={"sensors": [f"{s}:{k}" for s, k in checked]},
        )

    def ingest(self, batch_id: str, readings: Sequence[Reading]) -> Ingested:
        """Store a batch of readings and the alerts of its threshold crossings in one transaction.

        The batch id is the idempotency key: a retry returns the stored outcome and writes nothing, so an alert is
        never lost nor doubled.
        """
        check_key(batch_id, field="batch_id")
        checked = domain.check_readings(readings, now=self.clock())
        stamps = [time_to_db("sqlite", r.at) for r in checked]  # fixed-width UTC text: the digest's, and SQLite's
        digest = hashlib.sha256(
            "\n".join(f"{r.sensor_id} {at} {r.value!r}" for r, at in zip(checked, stamps, strict=True)).encode()
        )

        def body(work: Work) -> Ingested:
            tenant = work.scope.tenant
            sensors = self._sensors(work, lock=True)
            for i, r in enumerate(checked):
                if r.sensor_id not in sensors:
                    raise ValidationError(
                        f"readings[{i}].sensor_id {r.sensor_id!r} is not a registered sensor; register it first "
                        "(datastrata fab sensors add, or POST /fab/sensors)",
                        field=f"readings[{i}].sensor_id",
                    )
            work.executemany(
                "INSERT INTO fab_readings (tenant_id, sensor_id, ts, value) VALUES (?, ?, ?, ?)",
                [
                    (tenant, r.sensor_id, at if work.dialect == "sqlite" else r.at, float(r.value))
                    for r, at in zip(checked, stamps, strict=True)
                ],
            )
            kinds = {s: kind for s, (kind, _) in sensors.items()}
            alarms = {s: alarm for s, (_, alarm) in sensors.items()}
            found, after = domain.crossings(checked, kinds, alarms, self.limits)
            changed = [(int(a), tenant, s) for s, a in after.items() if a != alarms[s]]
            work.executemany("UPDATE fab_sensors SET alarm = ? WHERE tenant_id = ? AND sensor_id = ?", changed)
            events = [
                NewEvent(
                    ALERT,
                    c.payload(batch_id),
                    event_id=event_id_for(tenant, "fab.alert", f"{c.sensor_id}@{c.at.isoformat()}"),
                    occurred_at=c.at,
                )
                for c in found
            ]
            if events:
                work.append(events)
            return Ingested(batch_id, len(checked), len(events), False, tuple(c.at for c in found))

        try:
            stored = self.commands.run(
                "ingest",
                self.scope(),
                body,
                encode=Ingested.to_stored,
                decode=Ingested.replayed,
                key=batch_id,
                content={"readings": digest.hexdigest()},
                key_field="batch_id",
            )
        except ConcurrencyConflict:
            raise RuleViolation(
                f"batch {batch_id!r} holds readings already stored by another batch (same sensor and time); a "
                "retried batch must keep its batch_id, and each reading is sent in one batch only",
                field="readings",
            ) from None
        committed = self.clock()
        latencies = tuple((committed - at).total_seconds() for at in stored.alert_times)
        return Ingested(
            stored.batch_id, stored.readings, stored.alerts, stored.duplicate, stored.alert_times, latencies
        )

    def _sensors(self, work: Work, *, lock: bool) -> dict[str, tuple[str, bool]]:
        """The tenant's sensors: id → (kind, in alarm); locked on PostgreSQL so concurrent batches alert once."""
        sql = "SELECT sensor_id, kind, alarm FROM fab_sensors WHERE tenant_id = ?"
        if lock and work.dialect == "postgresql":
            sql += " FOR UPDATE"
        return {str(s): (str(k), bool(a)) for s, k, a in work.query(sql, (work.scope.tenant,))}

    # ---- queries -------------------------------------------------------------------------------------------

    def sensors(self) -> list[dict[str, Any]]:
        """The registered sensors with their kind and whether they are in alarm."""
        with self.runtime.read(self.scope()) as work:
            found = self._sensors(work, lock=False)
        return [{"sensor_id": s, "kind": k, "alarm": a} for s, (k, a) in sorted(found.items())]

    def alerts(self, *, after_version: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """The alerts in the order they were recorded, `limit` after version `after_version`."""
        bounded_int(after_version, field="after_version")
        bounded_int(limit, field="limit", minimum=1, maximum=1000)
        return [_alert(e) for e in self.runtime.stream(self.scope(), from_version=after_version + 1, limit=limit)]

    def alerts_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The alerts whose reading time is in [start, end)."""
        events = self.runtime.stream(self.scope(), until=end - timedelta(microseconds=1))
        return [_alert(e) for e in events if start <= e.occurred_at < end]


def _alert(event: Event) -> dict[str, Any]:
    p = event.payload
    return {
        "version": event.version,
        "sensor_id": p["sensor_id"],
        "kind": p["kind"],
        "value": p["value"],
        "bound": p["bound"],
        "limit": p["limit"],
        "reading_at": p["reading_at"],
        "recorded_at": time_from_db(event.recorded_at).isoformat(),
        "event_id": event.event_id,
    }
