"""Downstream copies of master data: subscribers that keep their own copy from the bus, and verify with re-sync.

A downstream system (a CRM, a warehouse planner, an ERP) copies the records of one entity type into its own table
and derives its own data from each copy, in one transaction with its inbox entry, so a redelivered event changes
nothing. The copy follows *current* values: a ``MasterDataChanged`` that is in effect when recorded, or a
``MasterDataActivated`` when a future-dated version takes effect. ``verify_copy`` compares a copy with the source
of truth and re-syncs whatever drifted (a dead-lettered event, a hand edit, a period that simply ended).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from datastrata.core.clock import Clock
from datastrata.core.errors import ValidationError
from datastrata.core.events import Event
from datastrata.core.tenancy import current_tenant
from datastrata.mdm.records import CONTEXT, MASTER_DATA_ACTIVATED, MASTER_DATA_CHANGED, iso
from datastrata.messaging.inbox import Inbox
from datastrata.runtime.scope import Scope
from datastrata.runtime.units import Units
from datastrata.stores.database import Dialect, Tx, time_from_db, time_to_db
from datastrata.stores.migrations import Component

#: The events a downstream copy follows.
CHANGE_EVENTS: tuple[str, ...] = (MASTER_DATA_CHANGED, MASTER_DATA_ACTIVATED)
#: ``derive(tx, tenant_id, entity_key, attributes)`` recomputes a downstream's own rows; None: the record is gone.
Derive = Callable[[Tx, str, str, Mapping[str, Any] | None], None]

_TABLE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class CopyUpdate:
    """What the current value of one record now is, per an event (attributes None: no current record)."""

    tenant_id: str
    entity_type: str
    entity_key: str
    attributes: dict[str, Any] | None
    version_id: str
    valid_to: datetime | None
    position: int


def copy_update(event: Event) -> CopyUpdate | None:
    """Return the current-value change `event` carries, or None when it leaves the current value alone."""
    payload = event.payload
    if event.type == MASTER_DATA_CHANGED:
        if not payload.get("in_effect"):
            return None  # a future-dated or past-only assertion: current is unchanged (activation announces it)
        attributes = payload.get("after")
    elif event.type == MASTER_DATA_ACTIVATED:
        attributes = None if payload.get("retired") else payload.get("attributes")
    else:
        return None
    valid_to = payload.get("valid_to")
    return CopyUpdate(
        tenant_id=event.tenant_id,
        entity_type=str(payload["entity_type"]),
        entity_key=str(payload["entity_key"]),
        attributes=None if attributes is None else dict(attributes),
        version_id=str(payload["version_id"]),
        valid_to=None if valid_to is None else datetime.fromisoformat(str(valid_to)),
        position=event.position,
    )


@dataclass(frozen=True, slots=True)
class Downstream:
    """A downstream system: the entity type it copies, its copy table and what it derives from each copy."""

    name: str
    entity_type: str
    table: str
    derive: Derive
    ddl: Callable[[Dialect], str] | None = None

    def migrations(self) -> list[Component]:
        """Return the schema of this downstream: its copy table, then its own derived tables if it has any."""
        copy = Component.baseline(f"mdm.copy.{self.table}", _copy_ddl(self.table))
        return [copy] if self.ddl is None else [copy, Component.baseline(self.name, self.ddl)]


@dataclass(frozen=True, slots=True)
class CopyRow:
    """One record as a downstream holds it (attributes None: it holds that the record is gone)."""

    tenant_id: str
    entity_key: str
    attributes: dict[str, Any] | None
    version_id: str
    valid_to: datetime | None
    position: int
    synced_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict."""
        return {
            "tenant_id": self.tenant_id,
            "entity_key": self.entity_key,
            "attributes": self.attributes,
            "version_id": self.version_id,
            "valid_to": iso(self.valid_to),
            "position": self.position,
            "synced_at": iso(self.synced_at),
        }


def _copy_ddl(table: str) -> Callable[[Dialect], str]:
    def ddl(dialect: Dialect) -> str:
        time = "TEXT" if dialect == "sqlite" else "TIMESTAMPTZ"
        return f"""
CREATE TABLE IF NOT EXISTS {table} (
    tenant_id   TEXT   NOT NULL,
    entity_key  TEXT   NOT NULL,
    attributes  TEXT,
    version_id  TEXT   NOT NULL,
    valid_to    {time},
    position    BIGINT NOT NULL,
    synced_at   {time} NOT NULL,
    PRIMARY KEY (tenant_id, entity_key)
);
"""

    return ddl


class DownstreamCopy:
    """Keeps one downstream system's copy of an entity type from the bus, idempotently (inbox in the same tx)."""

    def __init__(
        self, units: Units, downstream: Downstream, *, clock: Clock | None = None, context: str = CONTEXT
    ) -> None:
        if not _TABLE.match(downstream.table):
            raise ValidationError(
                f"copy table {downstream.table!r} must be 1-63 of a-z, 0-9 and '_', starting with a letter",
                field="table",
            )
        self.units = units
        self.downstream = downstream
        self.clock = clock or units.clock
        self.context = context
        self.inbox = Inbox(units)
        for component in downstream.migrations():
            units.ensure(component)

    def scope(self, tenant_id: str | None = None) -> Scope:
        """Return the scope this copy works in: one tenant's copy, or (None) the current tenant's context."""
        return Scope.of(self.context) if tenant_id is None else Scope(self.context, tenant=tenant_id)

    @property
    def name(self) -> str:
        """The consumer name (inbox, bus consumer group, dead letters)."""
        return self.downstream.name

    @property
    def entity_type(self) -> str:
        """The entity type this downstream copies."""
        return self.downstream.entity_type

    def handle(self, event: Event) -> None:
        """Apply one event: record it in the inbox and, unless seen before or older than the copy, update the copy."""
        update = copy_update(event)
        if update is None or update.entity_type != self.entity_type:
            return
        with self.units.transaction(self.scope(update.tenant_id)) as tx:
            if not self.inbox.first_time(tx, self.name, event.event_id, tenant=event.tenant_id):
                return
            held = tx.scalar(
                f"SELECT position FROM {self.downstream.table} WHERE tenant_id = ? AND entity_key = ?",
                (update.tenant_id, update.entity_key),
            )
            if held is not None and int(held) >= update.position:
                return  # a late, older event: the copy already reflects something newer
            self.write_in(tx, update)

    def write_in(self, tx: Tx, update: CopyUpdate) -> None:
        """Store `update` as the copy and re-derive the downstream's own rows, inside `tx`."""
        tx.execute(
            f"INSERT INTO {self.downstream.table} "
            "(tenant_id, entity_key, attributes, version_id, valid_to, position, synced_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, entity_key) DO UPDATE SET "
            "attributes = excluded.attributes, version_id = excluded.version_id, valid_to = excluded.valid_to, "
            "position = excluded.position, synced_at = excluded.synced_at",
            (
                update.tenant_id,
                update.entity_key,
                None if update.attributes is None else _dump(update.attributes),
                update.version_id,
                None if update.valid_to is None else time_to_db(tx.dialect, update.valid_to),
                update.position,
                time_to_db(tx.dialect, self.clock()),
            ),
        )
        self.downstream.derive(tx, update.tenant_id, update.entity_key, update.attributes)

    def get(self, entity_key: str) -> CopyRow | None:
        """Return this downstream's copy of one record in the current tenant, or None."""
        with self.units.read(self.scope()) as tx:
            rows = self.rows_in(tx, tenant_id=current_tenant(), entity_key=entity_key)
        return rows[0] if rows else None

    def rows_in(self, tx: Tx, *, tenant_id: str | None = None, entity_key: str | None = None) -> list[CopyRow]:
        """Return copy rows (every tenant unless given), by tenant and key."""
        sql = (
            "SELECT tenant_id, entity_key, attributes, version_id, valid_to, position, synced_at "
            f"FROM {self.downstream.table} WHERE 1 = 1"
        )
        params: list[Any] = []
        if tenant_id is not None:
            sql += " AND tenant_id = ?"
            params.append(tenant_id)
        if entity_key is not None:
            sql += " AND entity_key = ?"
            params.append(entity_key)
        rows = tx.query(sql + " ORDER BY tenant_id, entity_key", params)
        return [
            CopyRow(
                tenant_id=str(r[0]),
                entity_key=str(r[1]),
                attributes=None if r[2] is None else dict(json.loads(r[2])),
                version_id=str(r[3]),
                valid_to=None if r[4] is None else time_from_db(r[4]),
                position=int(r[5]),
                synced_at=time_from_db(r[6]),
            )
            for r in rows
        ]


@dataclass(frozen=True, slots=True)
class Drift:
    """A copy that disagreed with the source of truth (missing, stale or extra) and was re-synced."""

    consumer: str
    tenant_id: str
    entity_type: str
    entity_key: str
    problem: str
    expected: dict[str, Any] | None
    found: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict."""
        return {
            "consumer": self.consumer,
            "tenant_id": self.tenant_id,
            "entity_type": self.entity_type,
            "entity_key": self.entity_key,
            "problem": self.problem,
            "expected": self.expected,
            "found": self.found,
        }


@dataclass(frozen=True, slots=True)
class _Truth:
    version_id: str
    attributes: dict[str, Any]
    valid_to: datetime | None


def _truth(tx: Tx, entity_type: str, now: datetime) -> dict[tuple[str, str], _Truth]:
    """Return every record of `entity_type` valid at `now` as known now, in every tenant."""
    at = time_to_db(tx.dialect, now)
    rows = tx.query(
        "SELECT tenant_id, entity_key, version_id, attributes, valid_to FROM master_data_versions "
        "WHERE entity_type = ? AND recorded_to IS NULL AND attributes IS NOT NULL "
        "AND valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)",
        (entity_type, at, at),
    )
    return {
        (str(r[0]), str(r[1])): _Truth(
            str(r[2]),
            dict(json.loads(r[3]) if isinstance(r[3], (str, bytes)) else r[3]),
            None if r[4] is None else time_from_db(r[4]),
        )
        for r in rows
    }


def verify_copy(
    copy: DownstreamCopy,
    *,
    now: datetime,
    head: int,
    on_drift: Callable[[Tx, Drift], None] | None = None,
) -> list[Drift]:
    """Compare a downstream copy with the source of truth at `now`; re-sync every drifted record in one tx.

    `head` is the log position read *before* this call: re-synced rows take it as their position, so an event
    already reflected in the truth that arrives later is recognised as older and skipped. The copy table is
    locked for the duration on PostgreSQL (SQLite's write transaction already excludes the subscriber).
    """
    table = copy.downstream.table
    drifts: list[Drift] = []
    with copy.units.transaction(copy.scope()) as tx:
        if tx.dialect == "postgresql":
            tx.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        truth = _truth(tx, copy.entity_type, now)
        held = {(r.tenant_id, r.entity_key): r for r in copy.rows_in(tx)}
        for ident in sorted(set(truth) | {k for k, r in held.items() if r.attributes is not None}):
            expected = truth.get(ident)
            row = held.get(ident)
            found = None if row is None else row.attributes
            if expected is not None and found == expected.attributes:
                continue
            problem = "missing" if found is None else "extra" if expected is None else "stale"
            wanted = None if expected is None else expected.attributes
            drift = Drift(copy.name, ident[0], copy.entity_type, ident[1], problem, wanted, found)
            copy.write_in(
                tx,
                CopyUpdate(
                    tenant_id=ident[0],
                    entity_type=copy.entity_type,
                    entity_key=ident[1],
                    attributes=wanted,
                    version_id=_version(expected, row),
                    valid_to=None if expected is None else expected.valid_to,
                    position=max(head, row.position if row is not None else 0),
                ),
            )
            if on_drift is not None:
                on_drift(tx, drift)
            drifts.append(drift)
    return drifts


def _version(truth: _Truth | None, row: CopyRow | None) -> str:
    """The version a re-synced copy names: the true one, or the copy's own when the record is gone."""
    if truth is not None:
        return truth.version_id
    return "" if row is None else row.version_id


def _dump(attributes: Mapping[str, Any]) -> str:
    return json.dumps(dict(attributes), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
