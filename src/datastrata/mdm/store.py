"""The bitemporal master-data store: put, retire, get across both time axes, history, audit, activation."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from datastrata.core.clock import Clock, ensure_utc, system_clock
from datastrata.core.errors import ConcurrencyConflict, ValidationError
from datastrata.core.events import NewEvent
from datastrata.core.ids import new_id
from datastrata.core.tenancy import current_tenant, tenant
from datastrata.mdm import sql
from datastrata.mdm.changes import ChangePlan, ChangeRequest, plan_change, valid_at, valid_period
from datastrata.mdm.records import (
    CONTEXT,
    MASTER_DATA_ACTIVATED,
    MASTER_DATA_CHANGED,
    AuditEntry,
    Change,
    MasterRecord,
    iso,
    record_key,
)
from datastrata.mdm.schema import MIGRATIONS
from datastrata.mdm.sql import AuditRow, Key, VersionRow
from datastrata.mdm.temporal import next_boundary, period
from datastrata.mdm.types import EntityType, FieldSpec, TypeRegistry, check_key, entity_type
from datastrata.runtime.location import Location, Work
from datastrata.runtime.scope import KEY_MAX, Scope
from datastrata.runtime.units import Units
from datastrata.stores.database import Tx
from datastrata.stores.open import open_database
from datastrata.writes.commands import CommandHandler

log = logging.getLogger(__name__)

#: ``callback(entity_type, entity_key, next_change_at)``, run after a commit that changed the key.
ChangeListener = Callable[[str, str, datetime | None], None]

_ACTIVATION_IDS = uuid.UUID("6d646d61-0000-4000-8000-000000000001")


def activation_event_id(version_id: str) -> str:
    """Return the id of the MasterDataActivated event of a version (fixed, so the log refuses a second one)."""
    return str(uuid.uuid5(_ACTIVATION_IDS, version_id))


class MasterDataStore:
    """Bitemporal master data on SQLite or PostgreSQL: every assertion has a valid period and a recorded time."""

    def __init__(
        self,
        units: Units,
        *,
        clock: Clock | None = None,
        types: TypeRegistry | None = None,
        context: str = CONTEXT,
    ) -> None:
        self.units = units
        self.clock = clock or units.clock
        self.context = context
        self.types = types if types is not None else TypeRegistry()
        self._listeners: list[ChangeListener] = []
        self._owned: Location | None = None
        units.ensure(MIGRATIONS)
        self.commands = CommandHandler(units)

    @classmethod
    def open(cls, url: str, *, clock: Clock = system_clock) -> MasterDataStore:
        """Open the store at ``sqlite:///…`` or ``postgresql://…``; :meth:`close` closes the database too."""
        location = Location.over(open_database(url), clock=clock)
        try:
            store = cls(location, clock=clock)
        except BaseException:
            location.close()
            raise
        store._owned = location
        return store

    def close(self) -> None:
        """Close the database if this store opened it."""
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def scope(self, key: Key | None = None) -> Scope:
        """Return the scope of one record (its stream ``<context>-<type>-<key>``), or of the whole context."""
        if key is None:
            return Scope.of(self.context)
        aggregate = record_key(key.entity_type, key.entity_key)
        if len(aggregate) > KEY_MAX:
            raise ValidationError(
                f"{key.entity_type} key {key.entity_key[:40]!r}… is too long for its event stream: the type and key "
                f"together may hold {KEY_MAX - 1} characters; use a shorter key",
                field="entity_key",
            )
        return Scope(self.context, aggregate, key.tenant_id)

    def __enter__(self) -> MasterDataStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- types and listeners -------------------------------------------------------------------------------

    def register_type(
        self, name: str, fields: Mapping[str, type | FieldSpec], *, required: Iterable[str] = ()
    ) -> EntityType:
        """Accept a new entity type whose attributes are ``{field: type or FieldSpec}``."""
        return self.types.register(entity_type(name, fields, required=required))

    def on_change(self, callback: ChangeListener) -> Callable[[], None]:
        """Call `callback(entity_type, key, next_change_at)` after each commit that changes a key; return an undo.

        `next_change_at` is when the key's value may next change by itself (a future-dated version taking effect or
        a period ending), so a cache can cap its TTL there. A failing callback is logged; the write stays committed.
        """
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

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
        """Assert the full attribute set of a record for [valid_from, valid_to) (default: from now, open-ended).

        Where the period overlaps what is already known, this assertion wins from now on; the earlier knowledge
        stays readable with ``as_known_at``. A retried call with the same `change_id` returns the stored change.
        """
        schema = self.types.get(entity_type)
        values = schema.validate(attributes)
        dumped = schema.dump(values)
        return self._write(schema, entity_key, dumped, valid_from, valid_to, actor, reason, change_id, "put")

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
        schema = self.types.get(entity_type)
        return self._write(schema, entity_key, None, valid_from, valid_to, actor, reason, change_id, "retire")

    def activate(self, *, limit: int = 1000) -> list[MasterRecord]:
        """Make every version that has taken effect current and announce each once with MasterDataActivated.

        Idempotent and safe to run concurrently: a marker column set in the same transaction as the event decides
        which run announces a version. Versions recorded already in effect are announced by their
        MasterDataChanged event instead. Runs for the caller's tenant, at most `limit` versions per call (call
        again while it returns `limit` records); the worker's job runs it for each tenant with something due.
        """
        if limit < 1:
            raise ValidationError(f"limit must be at least 1; got {limit}", field="limit")
        activated: list[VersionRow] = []
        scope = self.scope()
        with self.units.transaction(scope) as tx:
            sql.lock_activation(tx)
            now = self.clock()
            due = {v.key for v in sql.pending_versions(tx, scope.tenant, now, limit)} | set(
                sql.lapsed_current(tx, scope.tenant, now, limit)
            )
            keys = sorted(due, key=Key.params)
            for key in keys:  # in one order, so concurrent runs and writers cannot deadlock
                sql.lock_key(tx, key)
            for version in sql.pending_versions(tx, scope.tenant, now, limit):  # re-read: writers may have changed them
                if version.key in due and sql.mark_activated(tx, version.version_id, now):
                    activated.append(self._announce(tx, version.with_changes(activated_at=now)))
            for key in keys:
                timeline = sql.open_versions(tx, key)
                sql.set_current(tx, key, valid_at(timeline, now), now)
                self._notify_after_commit(tx, key, next_boundary((valid_period(v) for v in timeline), now))
        return [self._record(v) for v in activated]

    # ---- queries -------------------------------------------------------------------------------------------

    def get(
        self,
        entity_type: str,
        entity_key: str,
        *,
        as_of: datetime | None = None,
        as_known_at: datetime | None = None,
    ) -> MasterRecord | None:
        """Return the version valid at `as_of` as recorded by `as_known_at` (defaults: now, now), or None."""
        key = self._key(entity_type, entity_key)
        when = self.clock() if as_of is None else ensure_utc(as_of, field="as_of")
        known = None if as_known_at is None else ensure_utc(as_known_at, field="as_known_at")
        with self.units.read(self.scope()) as tx:
            if as_of is None and known is None:
                row = sql.current(tx, key)
                if row is not None and valid_period(row).contains(when):
                    return self._record(row)
            row = sql.version_at(tx, key, when, known)
        return None if row is None or row.retired else self._record(row)

    def history(self, entity_type: str, entity_key: str) -> list[MasterRecord]:
        """Return every version of a record ever recorded (superseded ones too), by recorded then valid time."""
        key = self._key(entity_type, entity_key)
        with self.units.read(self.scope()) as tx:
            rows = sql.all_versions(tx, key)
        return [self._record(r) for r in rows]

    def timeline(self, entity_type: str, entity_key: str, *, as_known_at: datetime | None = None) -> list[MasterRecord]:
        """Return a record's versions over valid time as recorded by `as_known_at` (default: as known now)."""
        key = self._key(entity_type, entity_key)
        known = None if as_known_at is None else ensure_utc(as_known_at, field="as_known_at")
        with self.units.read(self.scope()) as tx:
            rows = sql.versions_known_at(tx, key, known)
        return [self._record(r) for r in rows]

    def next_change(self, entity_type: str, entity_key: str, *, after: datetime | None = None) -> datetime | None:
        """Return when the record's value may next change by itself after `after` (default: now), or None."""
        key = self._key(entity_type, entity_key)
        start = self.clock() if after is None else ensure_utc(after, field="after")
        with self.units.read(self.scope()) as tx:
            rows = sql.open_versions(tx, key)
        return next_boundary((valid_period(r) for r in rows), start)

    def revision(self, entity_type: str, entity_key: str) -> int:
        """Return the record's change count (its event stream's version, 0 if never written): one indexed read."""
        scope = self.scope(self._key(entity_type, entity_key))
        with self.units.read(scope) as work:
            return work.log.version_in(work, scope.stream_id)

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
        """Return audit entries (oldest first) filtered by entity type, key, actor and recorded time.

        `after` (an entry's recorded time and position) continues a listing after that entry (a keyset page).
        """
        if entity_type is not None:
            self.types.get(entity_type)
        if key is not None:
            check_key(key)
        if limit < 1:
            raise ValidationError(f"limit must be at least 1; got {limit}", field="limit")
        start = None if since is None else ensure_utc(since, field="since")
        with self.units.read(self.scope()) as tx:
            rows = sql.audit_entries(
                tx,
                current_tenant(),
                entity_type=entity_type,
                entity_key=key,
                actor=actor,
                since=start,
                limit=limit,
                after=after,
            )
        return [_audit_entry(r) for r in rows]

    # ---- internals -----------------------------------------------------------------------------------------

    def _key(self, entity_type: str, entity_key: str) -> Key:
        self.types.get(entity_type)
        return Key(current_tenant(), entity_type, check_key(entity_key))

    def _write(
        self,
        schema: EntityType,
        entity_key: str,
        after: dict[str, Any] | None,
        valid_from: datetime | None,
        valid_to: datetime | None,
        actor: str,
        reason: str,
        change_id: str | None,
        action: str,
    ) -> Change:
        """Plan the change from the key's timeline and persist it: one transaction, under the idempotency rule."""
        key = Key(current_tenant(), schema.name, check_key(entity_key))
        _check_text(actor, "actor", required=True)
        _check_text(reason, "reason", required=False, limit=2000)
        if change_id is not None:
            _check_text(change_id, "change_id", required=True)
        asserted = period(self.clock() if valid_from is None else valid_from, valid_to)
        request = ChangeRequest(key, action, after, asserted, actor, reason, change_id or new_id())
        content = {
            "entity_type": key.entity_type,
            "entity_key": key.entity_key,
            "action": action,
            "after": after,
            "valid_from": None if valid_from is None else iso(asserted.start),
            "valid_to": iso(asserted.end),
            "actor": actor,
            "reason": reason,
        }

        def body(work: Work) -> Change:
            sql.lock_key(work, key)
            plan = plan_change(request, sql.open_versions(work, key), sql.latest_recorded(work, key), self.clock())
            return self._persist(work, plan)

        return self.commands.run(
            "change",
            self.scope(key),
            body,
            encode=Change.to_dict,
            decode=Change.replayed,
            key=change_id,
            content=content,
            key_field="change_id",
        )

    def _persist(self, work: Work, plan: ChangePlan) -> Change:
        """Write a planned change: close and insert versions, set current, append the event, record the audit."""
        request, key = plan.request, plan.request.key
        if sql.close_versions(work, list(plan.close), plan.now) != len(plan.close):
            raise ConcurrencyConflict(f"{key.entity_type} {key.entity_key!r} changed concurrently; retry the command")
        sql.insert_versions(work, list(plan.versions))
        sql.set_current(work, key, plan.current, plan.now)
        appended = work.append([NewEvent(MASTER_DATA_CHANGED, plan.payload, request.change_id)])
        sql.insert_audit(work, key.tenant_id, plan.audit_at(appended.position))
        self._notify_after_commit(work, key, plan.next_change_at)
        return Change(
            change_id=request.change_id,
            entity_type=key.entity_type,
            entity_key=key.entity_key,
            action=request.action,
            version_id=plan.new.version_id,
            valid_from=request.asserted.start,
            valid_to=request.asserted.end,
            recorded_at=plan.now,
            in_effect=plan.in_effect,
            position=appended.position,
            log=work.log.identity,
        )

    def _announce(self, work: Work, version: VersionRow) -> VersionRow:
        """Append the MasterDataActivated event of `version`, in its tenant."""
        event = NewEvent(MASTER_DATA_ACTIVATED, _activated_payload(version), activation_event_id(version.version_id))
        work.append([event], scope=self.scope(version.key))
        return version

    def _notify_after_commit(self, tx: Tx, key: Key, next_change_at: datetime | None) -> None:
        """Schedule the change listeners for `key` to run once `tx` commits."""
        if not self._listeners:
            return

        def notify() -> None:
            with tenant(key.tenant_id):
                for listener in list(self._listeners):
                    try:
                        listener(key.entity_type, key.entity_key, next_change_at)
                    except Exception:  # a cache outage must not turn a committed write into an error
                        log.exception("master-data change listener failed for %s %s", key.entity_type, key.entity_key)

        tx.on_commit(notify)

    def _record(self, row: VersionRow) -> MasterRecord:
        """Build the public record, typing attributes by their entity type when it is registered here."""
        schema = self.types.find(row.key.entity_type)
        attributes: dict[str, Any] = {}
        if row.attributes is not None:
            attributes = schema.load(row.attributes) if schema is not None else dict(row.attributes)
        return MasterRecord(
            entity_type=row.key.entity_type,
            entity_key=row.key.entity_key,
            attributes=attributes,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            recorded_from=row.recorded_from,
            recorded_to=row.recorded_to,
            actor=row.actor,
            reason=row.reason,
            version_id=row.version_id,
            change_id=row.change_id,
            retired=row.retired,
            derived_from=row.derived_from,
            activated_at=row.activated_at,
        )


def _activated_payload(row: VersionRow) -> dict[str, Any]:
    return {
        "entity_type": row.key.entity_type,
        "entity_key": row.key.entity_key,
        "version_id": row.version_id,
        "attributes": row.attributes,
        "retired": row.retired,
        "valid_from": iso(row.valid_from),
        "valid_to": iso(row.valid_to),
        "recorded_from": iso(row.recorded_from),
        "activated_at": iso(row.activated_at),
    }


def _audit_entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        change_id=row.change_id,
        entity_type=row.entity_type,
        entity_key=row.entity_key,
        action=row.action,
        actor=row.actor,
        reason=row.reason,
        before=row.before,
        after=row.after,
        replaced=row.replaced,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        recorded_at=row.recorded_at,
        version_id=row.version_id,
        position=row.position,
    )


def _check_text(value: str, field: str, *, required: bool, limit: int = 200) -> None:
    """Refuse a non-string, an empty required value or one longer than `limit`."""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        need = f"1-{limit}" if required else f"at most {limit}"
        raise ValidationError(f"{field} must be a string of {need} characters; got {value!r}", field=field)
