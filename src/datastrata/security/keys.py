"""API keys: created once, stored as a SHA-256 hash of the secret, listed without it, revoked by id.

A key reads ``ak_<12 hex>.<43 url-safe characters>``: the part before the dot is the key id (what lists, audit
trails and revocation name), the part after it the secret (256 random bits from :mod:`secrets`, shown only once).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from datastrata.core.clock import Clock, system_clock
from datastrata.core.errors import NotFound, Unauthorized, ValidationError
from datastrata.core.tenancy import DEFAULT_TENANT, check_tenant_id
from datastrata.runtime.tenants import SingleTenant, TenantDirectory
from datastrata.security.schema import MIGRATIONS
from datastrata.stores.database import Database, time_from_db, time_to_db

#: Roles from the most to the least powerful; each holds every role after it.
ROLES = ("admin", "editor", "viewer")
#: The longest note a key takes.
NOTE_MAX = 200
if TYPE_CHECKING:
    from datastrata.runtime import Runtime

_KEY_RE = re.compile(r"^(ak_[0-9a-f]{12})\.([A-Za-z0-9_-]{43})$")
_ID_RE = re.compile(r"^ak_[0-9a-f]{12}$")
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()
_COLUMNS = "key_id, tenant_id, role, note, created_at, expires_at, revoked_at"


def secret_hash(secret: str) -> str:
    """Return the stored form of a secret: its SHA-256, hex (fast on purpose: see docs/decisions.md)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_role(role: str) -> str:
    """Refuse a role that is not admin, editor or viewer."""
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}; got {role!r}", field="role")
    return role


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: the tenant it may see, its role, and the key it authenticated with."""

    key_id: str
    tenant: str
    role: str

    @property
    def roles(self) -> frozenset[str]:
        """Every role this principal holds (an admin is also an editor and a viewer)."""
        return frozenset(ROLES[ROLES.index(self.role) :])

    def holds(self, role: str) -> bool:
        """Whether this principal holds `role`."""
        return role in self.roles

    @property
    def actor(self) -> str:
        """The audit actor of what this principal changes: its key id."""
        return self.key_id


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key, without its secret."""

    key_id: str
    tenant: str
    role: str
    note: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        """Return ``active``, ``revoked`` or ``expired`` at `now`."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_dict(self, now: datetime) -> dict[str, Any]:
        """Return the key as JSON-ready data (never the secret, never its hash)."""
        return {
            "key_id": self.key_id,
            "tenant": self.tenant,
            "role": self.role,
            "note": self.note,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "state": self.state(now),
        }


class KeyStore:
    """The API keys of the home location."""

    def __init__(self, db: Database, *, clock: Clock = system_clock, tenants: TenantDirectory | None = None) -> None:
        self.db = db
        self.clock = clock
        #: The catalogue a key's tenant must be in (None: only ``default`` exists).
        self.tenants: TenantDirectory = tenants or SingleTenant()
        db.ensure(MIGRATIONS)

    def _require_catalogued(self, tenant: str) -> None:
        """Refuse a key for a tenant the catalogue does not hold, or one being offboarded."""
        try:
            placement = self.tenants.placement(tenant)
        except NotFound:
            raise ValidationError(
                f"tenant {tenant!r} is not in the catalogue; add it first (`datastrata tenants add {tenant} "
                "--tier indie`) or name a catalogued tenant",
                field="tenant",
            ) from None
        if placement.state in ("offboarding", "offboarded"):
            raise ValidationError(f"tenant {tenant!r} is {placement.state}: it takes no new keys", field="tenant")

    def create(
        self, *, role: str, tenant: str = DEFAULT_TENANT, expires_at: datetime | None = None, note: str = ""
    ) -> tuple[ApiKey, str]:
        """Create a key; return it and the full key text, which is shown this once and never stored."""
        check_role(role)
        self._require_catalogued(check_tenant_id(tenant))
        now = self.clock()
        if expires_at is not None and expires_at <= now:
            raise ValidationError(
                f"expires_at {expires_at.isoformat()} is not in the future; give a later time or none",
                field="expires_at",
            )
        if len(note) > NOTE_MAX:
            raise ValidationError(f"note must be at most {NOTE_MAX} characters; got {len(note)}", field="note")
        key_id = f"ak_{secrets.token_hex(6)}"
        secret = secrets.token_urlsafe(32)
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO security_api_keys (key_id, tenant_id, role, secret_sha256, note, created_at, expires_at)"
                " VALUES (?,?,?,?,?,?,?)",
                (
                    key_id,
                    tenant,
                    role,
                    secret_hash(secret),
                    note,
                    time_to_db(tx.dialect, now),
                    None if expires_at is None else time_to_db(tx.dialect, expires_at),
                ),
            )
        return ApiKey(key_id, tenant, role, note, now, expires_at, None), f"{key_id}.{secret}"

    def list(self, *, tenant: str | None = None) -> list[ApiKey]:
        """Return every key (of one tenant, if named), oldest first."""
        sql = f"SELECT {_COLUMNS} FROM security_api_keys"
        params: tuple[str, ...] = ()
        if tenant is not None:
            sql, params = sql + " WHERE tenant_id = ?", (check_tenant_id(tenant),)
        with self.db.read() as tx:
            rows = tx.query(sql + " ORDER BY created_at, key_id", params)
        return [_key(row) for row in rows]

    def get(self, key_id: str) -> ApiKey:
        """Return the key `key_id`."""
        with self.db.read() as tx:
            rows = tx.query(f"SELECT {_COLUMNS} FROM security_api_keys WHERE key_id = ?", (key_id,))
        if not rows:
            raise NotFound(f"no API key {key_id!r}; `datastrata keys list` shows the ids")
        return _key(rows[0])

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke the key `key_id` at once (revoking a revoked key keeps its first revocation time)."""
        if not _ID_RE.match(key_id):
            raise ValidationError(f"a key id reads ak_ and 12 hex digits (the part before the dot); got {key_id!r}")
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE security_api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (time_to_db(tx.dialect, self.clock()), key_id),
            )
        return self.get(key_id)

    def authenticate(self, token: str) -> Principal:
        """Return the principal of a full key, or refuse a malformed, unknown, revoked or expired one."""
        match = _KEY_RE.match(token)
        if match is None:
            raise Unauthorized(
                "the bearer token is not an API key (they read ak_<id>.<secret>); "
                "send `Authorization: Bearer <key>` with a key from `datastrata keys create`"
            )
        key_id, secret = match.groups()
        with self.db.read() as tx:
            rows = tx.query(
                f"SELECT {_COLUMNS}, secret_sha256 FROM security_api_keys WHERE key_id = ?",
                (key_id,),
            )
        stored = str(rows[0][7]) if rows else _DUMMY_HASH
        if not hmac.compare_digest(secret_hash(secret), stored) or not rows:
            raise Unauthorized(
                f"API key {key_id} is unknown or its secret is wrong; create one with `datastrata keys create`"
            )
        key = _key(rows[0])
        state = key.state(self.clock())
        if state != "active":
            raise Unauthorized(f"API key {key_id} is {state}; use an active key (`datastrata keys create` makes one)")
        return Principal(key.key_id, key.tenant, key.role)


def _key(row: Any) -> ApiKey:
    return ApiKey(
        str(row[0]),
        str(row[1]),
        str(row[2]),
        str(row[3]),
        time_from_db(row[4]),
        None if row[5] is None else time_from_db(row[5]),
        None if row[6] is None else time_from_db(row[6]),
    )


def key_store(runtime: Runtime) -> KeyStore:
    """Return the key store of `runtime`'s home location (built once per runtime)."""
    store: KeyStore = runtime.service("keys", lambda r: KeyStore(r.db, clock=r.clock, tenants=r.tenants))
    return store
