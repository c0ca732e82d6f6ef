"""Cross-tenant collaboration by explicit grants: one item, one permission, until an expiry; audited and revocable.

A grant lets a grantee tenant act on one of the owner's items. It never joins two tenants' data: the granted read or
write runs under the owner's scope in the owner's location (the caller checks the grant, then opens the owner's
unit of work). Grants and their audit live in the home store, outside the tenant rules, so both sides list them;
every lookup filters by the tenant asking. No grant (or an expired, revoked or narrower one) is NotFound: a grantee
learns nothing of items it was not given.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from datastrata.core.clock import ensure_utc
from datastrata.core.errors import NotFound, ValidationError
from datastrata.core.tenancy import check_tenant_id
from datastrata.core.validation import bounded_text
from datastrata.stores.database import Dialect, Tx, time_from_db, time_to_db
from datastrata.stores.migrations import Component

if TYPE_CHECKING:
    from datastrata.runtime.runtime import Runtime

#: Permissions from the narrowest up; each includes the ones before it (writing footage lets one read it too).
PERMISSIONS = ("status:read", "footage:read", "footage:write")
_COLUMNS = "id, owner, grantee, item, permission, expires_at, created_at, revoked_at"

_DDL = """
CREATE TABLE IF NOT EXISTS tenancy_grants (
    id          TEXT   PRIMARY KEY,
    owner       TEXT   NOT NULL,
    grantee     TEXT   NOT NULL,
    item        TEXT   NOT NULL,
    permission  TEXT   NOT NULL,
    expires_at  {time} NOT NULL,
    created_at  {time} NOT NULL,
    revoked_at  {time}
);
CREATE INDEX IF NOT EXISTS tenancy_grants_by_grantee ON tenancy_grants (grantee, owner, item);
CREATE INDEX IF NOT EXISTS tenancy_grants_by_owner ON tenancy_grants (owner, item);
CREATE TABLE IF NOT EXISTS tenancy_grant_audit (
    grant_id TEXT   NOT NULL,
    seq      BIGINT NOT NULL,
    owner    TEXT   NOT NULL,
    grantee  TEXT   NOT NULL,
    action   TEXT   NOT NULL,
    actor    TEXT   NOT NULL,
    detail   TEXT   NOT NULL,
    at       {time} NOT NULL,
    PRIMARY KEY (grant_id, seq)
);
"""


def _ddl(dialect: Dialect) -> str:
    return _DDL.format(time="TEXT" if dialect == "sqlite" else "TIMESTAMPTZ")


#: The grants' schema (global: both the owner and the grantee see a grant).
MIGRATIONS = Component.baseline("tenancy.grants", _ddl)


@dataclass(frozen=True, slots=True)
class Grant:
    """A standing permission of `grantee` on the owner's `item`."""

    id: str
    owner: str
    grantee: str
    item: str
    permission: str
    expires_at: datetime
    created_at: datetime
    revoked_at: datetime | None = None

    def state(self, now: datetime) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        return "active" if now < self.expires_at else "expired"

    def allows(self, permission: str, now: datetime) -> bool:
        """True while active and `permission` is this one or narrower."""
        return self.state(now) == "active" and PERMISSIONS.index(permission) <= PERMISSIONS.index(self.permission)

    def to_dict(self, now: datetime) -> dict[str, Any]:
        """Return a JSON-friendly dict with the grant's state at `now`."""
        return {
            "id": self.id,
            "owner": self.owner,
            "grantee": self.grantee,
            "item": self.item,
            "permission": self.permission,
            "expires_at": self.expires_at.isoformat(),
            "created_at": self.created_at.isoformat(),
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
            "state": self.state(now),
        }


def check_permission(value: object) -> str:
    """Refuse a permission the platform does not have."""
    if value not in PERMISSIONS:
        raise ValidationError(f"permission must be one of {', '.join(PERMISSIONS)}; got {value!r}", field="permission")
    return str(value)


class Grants:
    """The grants of a runtime's home store."""

    def __init__(self, runtime: Runtime) -> None:
        runtime.db.ensure(MIGRATIONS)
        self.runtime = runtime
        self.db = runtime.db
        self.clock = runtime.clock

    def allow(self, owner: str, grantee: str, item: str, permission: str, expires_at: datetime) -> Grant:
        """Grant `grantee` `permission` on the owner's `item` until `expires_at` (audited; the owner's act)."""
        check_tenant_id(owner)
        check_tenant_id(grantee)
        if grantee == owner:
            raise ValidationError(
                "grantee must be another tenant; a tenant needs no grant on its own items", field="grantee"
            )
        item = bounded_text(item, field="item", max_length=200)
        permission = check_permission(permission)
        expires = ensure_utc(expires_at, field="expires_at")
        now = self.clock()
        if expires <= now:
            raise ValidationError(
                f"expires_at must be in the future (now {now.isoformat()}); got {expires.isoformat()}",
                field="expires_at",
            )
        ident = hashlib.sha256(f"{owner}\x1f{grantee}\x1f{item}\x1f{permission}\x1f{now.isoformat()}".encode())
        grant = Grant(ident.hexdigest()[:24], owner, grantee, item, permission, expires, now)
        with self.db.transaction() as tx:
            d = tx.dialect
            tx.execute(
                f"INSERT INTO tenancy_grants ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (grant.id, owner, grantee, item, permission, time_to_db(d, expires), time_to_db(d, now)),
            )
            self._audit(tx, grant, "granted", owner, {"permission": permission, "expires_at": expires.isoformat()})
        return grant

    def revoke(self, grant_id: str, *, by: str) -> Grant:
        """Revoke a grant (its owner's act); revoking a revoked grant changes nothing."""
        with self.db.transaction() as tx:
            grant = self._get(tx, grant_id)
            if grant is None or grant.owner != by:
                raise NotFound(f"no grant {grant_id!r} of tenant {by!r}", field="grant_id")
            if grant.revoked_at is not None:
                return grant
            now = self.clock()
            tx.execute("UPDATE tenancy_grants SET revoked_at = ? WHERE id = ?", (time_to_db(tx.dialect, now), grant_id))
            self._audit(tx, grant, "revoked", by, {})
            return replace(grant, revoked_at=now)

    def check(self, grantee: str, owner: str, item: str, permission: str) -> Grant:
        """Return the grant that lets `grantee` do `permission` on the owner's `item` now, recording the use.

        NotFound when there is none (never granted, expired, revoked or narrower): the same answer as an item that
        does not exist, so a grantee learns nothing.
        """
        permission = check_permission(permission)
        now = self.clock()
        with self.db.transaction() as tx:
            rows = tx.query(
                f"SELECT {_COLUMNS} FROM tenancy_grants WHERE grantee = ? AND owner = ? AND item = ? ORDER BY id",
                (grantee, owner, item),
            )
            found = [g for g in map(_grant, rows) if g.allows(permission, now)]
            if not found:
                raise NotFound(f"no item {item!r} of tenant {owner!r}", field="item_id")
            grant = found[0]
            self._audit(tx, grant, f"used:{permission}", grantee, {})
        return grant

    def list_for(self, tenant: str) -> list[Grant]:
        """Every grant `tenant` gave or was given, oldest first."""
        with self.db.read() as tx:
            rows = tx.query(
                f"SELECT {_COLUMNS} FROM tenancy_grants WHERE owner = ? OR grantee = ? ORDER BY created_at, id",
                (tenant, tenant),
            )
        return [_grant(r) for r in rows]

    def audit(self, tenant: str, grant_id: str | None = None) -> list[dict[str, Any]]:
        """The audit trail of the grants `tenant` gave or was given (of one grant with `grant_id`), in order."""
        sql = (
            "SELECT grant_id, seq, owner, grantee, action, actor, detail, at FROM tenancy_grant_audit "
            "WHERE (owner = ? OR grantee = ?)"
        )
        params: tuple[Any, ...] = (tenant, tenant)
        if grant_id is not None:
            sql, params = sql + " AND grant_id = ?", (*params, grant_id)
        with self.db.read() as tx:
            rows = tx.query(sql + " ORDER BY at, grant_id, seq", params)
        return [
            {
                "grant_id": r[0],
                "owner": r[2],
                "grantee": r[3],
                "action": r[4],
                "actor": r[5],
                "detail": json.loads(r[6]),
                "at": time_from_db(r[7]).isoformat(),
            }
            for r in rows
        ]

    def _get(self, tx: Tx, grant_id: str) -> Grant | None:
        row = tx.one(f"SELECT {_COLUMNS} FROM tenancy_grants WHERE id = ?", (grant_id,))
        return None if row is None else _grant(row)

    def _audit(self, tx: Tx, grant: Grant, action: str, actor: str, detail: dict[str, Any]) -> None:
        seq = 1 + int(
            tx.scalar("SELECT COALESCE(MAX(seq), 0) FROM tenancy_grant_audit WHERE grant_id = ?", (grant.id,))
        )
        tx.execute(
            "INSERT INTO tenancy_grant_audit (grant_id, seq, owner, grantee, action, actor, detail, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                grant.id,
                seq,
                grant.owner,
                grant.grantee,
                action,
                actor,
                json.dumps(detail, sort_keys=True),
                time_to_db(tx.dialect, self.clock()),
            ),
        )


def _grant(row: tuple[Any, ...]) -> Grant:
    return Grant(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        time_from_db(row[5]),
        time_from_db(row[6]),
        None if row[7] is None else time_from_db(row[7]),
    )
