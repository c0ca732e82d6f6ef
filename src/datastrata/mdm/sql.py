"""Row I/O of the master-data tables on SQLite and PostgreSQL (``?`` placeholders; dialect differences here only)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from datastrata.stores.database import Row, Tx, time_from_db, time_to_db

#: Advisory-lock key that serialises ``activate`` runs on PostgreSQL.
ACTIVATE_LOCK_KEY: Final = 0x6D646D61  # "mdma"

_VERSION_COLUMNS = (
    "version_id, tenant_id, entity_type, entity_key, attributes, retired, valid_from, valid_to, "
    "recorded_from, recorded_to, actor, reason, change_id, derived_from, activated_at"
)
_CURRENT_COLUMNS = (
    "version_id, tenant_id, entity_type, entity_key, attributes, valid_from, valid_to, "
    "recorded_from, actor, reason, change_id, derived_from, activated_at"
)
_AUDIT_COLUMNS = (
    "change_id, entity_type, entity_key, action, actor, reason, before, after, replaced, "
    "valid_from, valid_to, recorded_at, version_id, position"
)
_KEY = "tenant_id = ? AND entity_type = ? AND entity_key = ?"


@dataclass(frozen=True, slots=True)
class Key:
    """Which record: tenant, entity type and entity key."""

    tenant_id: str
    entity_type: str
    entity_key: str

    def params(self) -> tuple[str, str, str]:
        """The key as query parameters, in column order."""
        return (self.tenant_id, self.entity_type, self.entity_key)


@dataclass(frozen=True, slots=True)
class VersionRow:
    """A stored version with its attributes in JSON form (None for a retirement)."""

    version_id: str
    key: Key
    attributes: dict[str, Any] | None
    valid_from: datetime
    valid_to: datetime | None
    recorded_from: datetime
    recorded_to: datetime | None
    actor: str
    reason: str
    change_id: str
    derived_from: str | None
    activated_at: datetime | None

    @property
    def retired(self) -> bool:
        """True for a retirement (the key is absent over this period)."""
        return self.attributes is None

    def with_changes(self, **changes: Any) -> VersionRow:
        """Return a copy with `changes` applied."""
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class AuditRow:
    """A stored audit entry with before/after in JSON form."""

    change_id: str
    entity_type: str
    entity_key: str
    action: str
    actor: str
    reason: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    replaced: list[dict[str, Any]]
    valid_from: datetime
    valid_to: datetime | None
    recorded_at: datetime
    version_id: str
    position: int


def _t(tx: Tx, value: datetime | None) -> Any:
    return None if value is None else time_to_db(tx.dialect, value)


def _t_back(value: Any) -> datetime | None:
    return None if value is None else time_from_db(value)


def _json(tx: Tx) -> str:
    return "?::jsonb" if tx.dialect == "postgresql" else "?"


def _json_value(value: Any) -> str | None:
    """Encode an already JSON-shaped value (attributes are dumped by their entity type first)."""
    return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _json_back(value: Any) -> Any:
    """Decode stored JSON (PostgreSQL's jsonb arrives decoded already)."""
    if value is None or not isinstance(value, (str, bytes)):
        return value
    return json.loads(value)


# ---- locks ---------------------------------------------------------------------------------------------------


def lock_key(tx: Tx, key: Key) -> None:
    """Serialise writers of one key (PostgreSQL advisory lock; SQLite's BEGIN IMMEDIATE already serialises)."""
    if tx.dialect == "postgresql":
        tx.defer(  # taken before the reads that follow it (the server runs them in order), no round trip of its own
            "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
            ("\x1f".join(("mdm", *key.params())),),
        )


def lock_activation(tx: Tx) -> None:
    """Serialise ``activate`` runs (PostgreSQL advisory lock; SQLite's BEGIN IMMEDIATE already serialises)."""
    if tx.dialect == "postgresql":
        tx.execute("SELECT pg_advisory_xact_lock(?)", (ACTIVATE_LOCK_KEY,))


# ---- versions ------------------------------------------------------------------------------------------------


def _version(row: Row) -> VersionRow:
    attributes = _json_back(row[4])
    return VersionRow(
        version_id=row[0],
        key=Key(row[1], row[2], row[3]),
        attributes=None if bool(row[5]) else dict(attributes),
        valid_from=time_from_db(row[6]),
        valid_to=_t_back(row[7]),
        recorded_from=time_from_db(row[8]),
        recorded_to=_t_back(row[9]),
        actor=row[10],
        reason=row[11],
        change_id=row[12],
        derived_from=row[13],
        activated_at=_t_back(row[14]),
    )


def latest_recorded(tx: Tx, key: Key) -> datetime | None:
    """Return the latest recorded time stored for `key` (writes never go back before it)."""
    row = tx.one(f"SELECT max(recorded_from), max(recorded_to) FROM master_data_versions WHERE {_KEY}", key.params())
    times = [time_from_db(v) for v in (row or ()) if v is not None]
    return max(times) if times else None


def open_versions(tx: Tx, key: Key) -> list[VersionRow]:
    """Return the versions of `key` as currently known (not superseded), in valid-time order."""
    return versions_known_at(tx, key, None)


def all_versions(tx: Tx, key: Key) -> list[VersionRow]:
    """Return every version of `key` ever recorded, by recorded time then valid time."""
    rows = tx.query(
        f"SELECT {_VERSION_COLUMNS} FROM master_data_versions WHERE {_KEY} ORDER BY recorded_from, valid_from",
        key.params(),
    )
    return [_version(r) for r in rows]


def version_at(tx: Tx, key: Key, as_of: datetime, as_known_at: datetime | None) -> VersionRow | None:
    """Return the version valid at `as_of` as recorded by `as_known_at` (None: as known now)."""
    sql = (
        f"SELECT {_VERSION_COLUMNS} FROM master_data_versions WHERE {_KEY} "
        "AND valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)"
    )
    params: list[Any] = [*key.params(), _t(tx, as_of), _t(tx, as_of)]
    if as_known_at is None:
        sql += " AND recorded_to IS NULL"
    else:
        sql += " AND recorded_from <= ? AND (recorded_to IS NULL OR recorded_to > ?)"
        params += [_t(tx, as_known_at), _t(tx, as_known_at)]
    row = tx.one(sql + " ORDER BY recorded_from DESC LIMIT 1", params)
    return None if row is None else _version(row)


def close_versions(tx: Tx, version_ids: Sequence[str], at: datetime) -> int:
    """Mark versions as superseded at recorded time `at`; return how many were still open."""
    if not version_ids:
        return 0
    marks = ",".join("?" * len(version_ids))
    cursor = tx.execute(
        f"UPDATE master_data_versions SET recorded_to = ? WHERE recorded_to IS NULL AND version_id IN ({marks})",
        (_t(tx, at), *version_ids),
    )
    return int(cursor.rowcount)


def insert_versions(tx: Tx, rows: Sequence[VersionRow]) -> None:
    """Insert new versions."""
    if not rows:
        return
    tx.defer_many(
        f"INSERT INTO master_data_versions ({_VERSION_COLUMNS}) "
        f"VALUES (?, ?, ?, ?, {_json(tx)}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                r.version_id,
                *r.key.params(),
                _json_value(r.attributes),
                r.retired,
                _t(tx, r.valid_from),
                _t(tx, r.valid_to),
                _t(tx, r.recorded_from),
                _t(tx, r.recorded_to),
                r.actor,
                r.reason,
                r.change_id,
                r.derived_from,
                _t(tx, r.activated_at),
            )
            for r in rows
        ],
    )


def pending_versions(tx: Tx, tenant: str, now: datetime, limit: int) -> list[VersionRow]:
    """Return up to `limit` open versions of `tenant` that have taken effect by `now` but were never activated."""
    rows = tx.query(
        f"SELECT {_VERSION_COLUMNS} FROM master_data_versions "
        "WHERE tenant_id = ? AND activated_at IS NULL AND recorded_to IS NULL AND valid_from <= ? "
        "ORDER BY valid_from, entity_type, entity_key, version_id LIMIT ?",
        (tenant, _t(tx, now), limit),
    )
    return [_version(r) for r in rows]


def mark_activated(tx: Tx, version_id: str, now: datetime) -> bool:
    """Set the activation marker of one version; False when another run set it first or it was superseded."""
    cursor = tx.execute(
        "UPDATE master_data_versions SET activated_at = ? "
        "WHERE version_id = ? AND activated_at IS NULL AND recorded_to IS NULL",
        (_t(tx, now), version_id),
    )
    return int(cursor.rowcount) == 1


# ---- current -------------------------------------------------------------------------------------------------


def current(tx: Tx, key: Key) -> VersionRow | None:
    """Return the row of master_data_current for `key` (as a version), or None."""
    row = tx.one(f"SELECT {_CURRENT_COLUMNS} FROM master_data_current WHERE {_KEY}", key.params())
    if row is None:
        return None
    return VersionRow(
        version_id=row[0],
        key=Key(row[1], row[2], row[3]),
        attributes=dict(_json_back(row[4])),
        valid_from=time_from_db(row[5]),
        valid_to=_t_back(row[6]),
        recorded_from=time_from_db(row[7]),
        recorded_to=None,
        actor=row[8],
        reason=row[9],
        change_id=row[10],
        derived_from=row[11],
        activated_at=_t_back(row[12]),
    )


def set_current(tx: Tx, key: Key, version: VersionRow | None, now: datetime) -> None:
    """Make `version` the current row of `key` (None: the key has no current row)."""
    if version is None or version.attributes is None:
        tx.defer(f"DELETE FROM master_data_current WHERE {_KEY}", key.params())
        return
    tx.defer(
        f"INSERT INTO master_data_current ({_CURRENT_COLUMNS}, updated_at) "
        f"VALUES (?, ?, ?, ?, {_json(tx)}, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (tenant_id, entity_type, entity_key) DO UPDATE SET "
        "version_id = excluded.version_id, attributes = excluded.attributes, valid_from = excluded.valid_from, "
        "valid_to = excluded.valid_to, recorded_from = excluded.recorded_from, actor = excluded.actor, "
        "reason = excluded.reason, change_id = excluded.change_id, derived_from = excluded.derived_from, "
        "activated_at = excluded.activated_at, updated_at = excluded.updated_at",
        (
            version.version_id,
            *key.params(),
            _json_value(version.attributes),
            _t(tx, version.valid_from),
            _t(tx, version.valid_to),
            _t(tx, version.recorded_from),
            version.actor,
            version.reason,
            version.change_id,
            version.derived_from,
            _t(tx, version.activated_at),
            _t(tx, now),
        ),
    )


def lapsed_current(tx: Tx, tenant: str, now: datetime, limit: int) -> list[Key]:
    """Return up to `limit` keys of `tenant` whose current row's valid period has ended by `now`."""
    rows = tx.query(
        "SELECT tenant_id, entity_type, entity_key FROM master_data_current "
        "WHERE tenant_id = ? AND valid_to IS NOT NULL AND valid_to <= ? ORDER BY valid_to LIMIT ?",
        (tenant, _t(tx, now), limit),
    )
    return [Key(*r) for r in rows]


def due_tenants(tx: Tx, now: datetime) -> list[str]:
    """Return the tenants (of every tenant this transaction sees) with a version due or a current row lapsed."""
    at = _t(tx, now)
    rows = tx.query(
        "SELECT DISTINCT tenant_id FROM master_data_versions "
        "WHERE activated_at IS NULL AND recorded_to IS NULL AND valid_from <= ? "
        "UNION SELECT DISTINCT tenant_id FROM master_data_current WHERE valid_to IS NOT NULL AND valid_to <= ?",
        (at, at),
    )
    return sorted(str(r[0]) for r in rows)


# ---- audit ---------------------------------------------------------------------------------------------------


def insert_audit(tx: Tx, tenant_id: str, row: AuditRow) -> None:
    """Insert one audit entry."""
    j = _json(tx)
    tx.defer(
        f"INSERT INTO master_data_audit (tenant_id, {_AUDIT_COLUMNS}) "
        f"VALUES (?, ?, ?, ?, ?, ?, ?, {j}, {j}, {j}, ?, ?, ?, ?, ?)",
        (
            tenant_id,
            row.change_id,
            row.entity_type,
            row.entity_key,
            row.action,
            row.actor,
            row.reason,
            _json_value(row.before),
            _json_value(row.after),
            _json_value(row.replaced),
            _t(tx, row.valid_from),
            _t(tx, row.valid_to),
            _t(tx, row.recorded_at),
            row.version_id,
            row.position,
        ),
    )


def _audit(row: Row) -> AuditRow:
    return AuditRow(
        change_id=row[0],
        entity_type=row[1],
        entity_key=row[2],
        action=row[3],
        actor=row[4],
        reason=row[5],
        before=_json_back(row[6]),
        after=_json_back(row[7]),
        replaced=list(_json_back(row[8])),
        valid_from=time_from_db(row[9]),
        valid_to=_t_back(row[10]),
        recorded_at=time_from_db(row[11]),
        version_id=row[12],
        position=int(row[13]),
    )


def audit_entries(
    tx: Tx,
    tenant_id: str,
    *,
    entity_type: str | None,
    entity_key: str | None,
    actor: str | None,
    since: datetime | None,
    limit: int,
    after: tuple[datetime, int] | None = None,
) -> list[AuditRow]:
    """Return audit entries matching every given filter, oldest first (after `after`: recorded time, position)."""
    sql = f"SELECT {_AUDIT_COLUMNS} FROM master_data_audit WHERE tenant_id = ?"
    params: list[Any] = [tenant_id]
    for column, value in (("entity_type", entity_type), ("entity_key", entity_key), ("actor", actor)):
        if value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
    if since is not None:
        sql += " AND recorded_at >= ?"
        params.append(_t(tx, since))
    if after is not None:
        sql += " AND (recorded_at > ? OR (recorded_at = ? AND position > ?))"
        params += [_t(tx, after[0]), _t(tx, after[0]), after[1]]
    sql += " ORDER BY recorded_at, position LIMIT ?"
    params.append(limit)
    return [_audit(r) for r in tx.query(sql, params)]


def versions_known_at(tx: Tx, key: Key, as_known_at: datetime | None) -> list[VersionRow]:
    """Return the timeline of `key` as recorded by `as_known_at` (None: as known now), in valid-time order."""
    sql = f"SELECT {_VERSION_COLUMNS} FROM master_data_versions WHERE {_KEY}"
    params: list[Any] = list(key.params())
    if as_known_at is None:
        sql += " AND recorded_to IS NULL"
    else:
        sql += " AND recorded_from <= ? AND (recorded_to IS NULL OR recorded_to > ?)"
        params += [_t(tx, as_known_at), _t(tx, as_known_at)]
    return [_version(r) for r in tx.query(sql + " ORDER BY valid_from", params)]
