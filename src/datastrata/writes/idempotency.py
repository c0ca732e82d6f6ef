"""One idempotency rule for every command: a client-chosen key, scoped to (tenant, command), keeps its first result.

Same key and same content: the stored result, nothing written. Same key, other content: refused (409 / exit 2)
naming the key. The result is stored in the command's own transaction, so it exists exactly when the effects do;
a concurrent twin loses the insert, is retried, and then finds the stored result. Keys are kept for
:data:`RETENTION` and swept after it.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from datastrata.core.clock import Clock, system_clock
from datastrata.core.errors import RuleViolation, ValidationError
from datastrata.stores.database import Database, Dialect, Tx, time_to_db
from datastrata.stores.migrations import Component

if TYPE_CHECKING:
    from datastrata.runtime.runtime import Runtime

#: How long a key is kept: a retry within this window gets the stored result (at least 24 hours, as documented).
RETENTION = timedelta(hours=48)
#: The longest key a client may choose.
MAX_KEY = 200
#: Seconds between two sweeps of one process (the worker's job runs every round; sweeping that often is waste).
SWEEP_EVERY = 3600.0
#: The worker job that removes keys older than the retention.
SWEEP_JOB = "idempotency.sweep"

_EVENT_IDS = uuid.UUID("69646d70-0000-4000-8000-000000000001")

_DDL = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    tenant_id      TEXT   NOT NULL,
    command        TEXT   NOT NULL,
    key            TEXT   NOT NULL,
    content_sha256 TEXT   NOT NULL,
    result         TEXT   NOT NULL,
    created_at     {time} NOT NULL,
    PRIMARY KEY (tenant_id, command, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_by_age ON idempotency_keys (created_at);
"""


def ddl(dialect: Dialect) -> str:
    """Return the idempotency table's DDL."""
    return _DDL.format(time="TEXT" if dialect == "sqlite" else "TIMESTAMPTZ")


#: The idempotency table's schema (a spine component: every location holding commands has it).
MIGRATIONS = Component.baseline("idempotency", ddl)


def check_key(key: object, *, field: str = "event_id") -> str:
    """Return `key` if it is a usable idempotency key: 1-200 printable ASCII characters, not only spaces."""
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY or not all(" " <= ch <= "~" for ch in key):
        raise ValidationError(
            f"{field} (the idempotency key) must be 1-{MAX_KEY} printable ASCII characters; got {key!r}; "
            "omit it to run the command without one",
            field=field,
        )
    return key


def digest(content: Mapping[str, Any]) -> str:
    """Return the SHA-256 of the command's content in a canonical JSON form (keys sorted, values as text)."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def event_id_for(tenant_id: str, command: str, key: str, n: int = 0) -> str:
    """Return the id of the `n`-th event of the command keyed `key` (stable, so a retried append is refused)."""
    return str(uuid.uuid5(_EVENT_IDS, f"{tenant_id}\x1f{command}\x1f{key}\x1f{n}"))


@dataclass(frozen=True, slots=True)
class Claim:
    """A command's idempotency key with the digest of its content, in the tenant it was given in."""

    tenant_id: str
    command: str
    key: str
    content: str
    field: str = "event_id"

    @classmethod
    def of(
        cls, tenant_id: str, command: str, key: str, content: Mapping[str, Any], *, field: str = "event_id"
    ) -> Claim:
        """Return the claim of `key` for `command` with `content` (checked); `field` is what callers call the key."""
        return cls(tenant_id, command, check_key(key, field=field), digest(content), field)

    def stored_in(self, tx: Tx) -> dict[str, Any] | None:
        """Return the result stored for this key, None if unused; refuse the key used with other content."""
        row = tx.one(
            "SELECT content_sha256, result FROM idempotency_keys WHERE tenant_id = ? AND command = ? AND key = ?",
            (self.tenant_id, self.command, self.key),
        )
        if row is None:
            return None
        if str(row[0]) != self.content:
            raise RuleViolation(
                f"idempotency key {self.key!r} was already used for a different {self.command} command; "
                "send the same content to get its result, or use a new key",
                field=self.field,
            )
        stored: dict[str, Any] = json.loads(str(row[1]))
        return stored

    def remember_in(self, tx: Tx, result: Mapping[str, Any], now: datetime) -> None:
        """Store `result` for this key inside the command's transaction (a twin's commit makes it fail)."""
        tx.defer(
            "INSERT INTO idempotency_keys (tenant_id, command, key, content_sha256, result, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                self.tenant_id,
                self.command,
                self.key,
                self.content,
                json.dumps(result, default=str),
                time_to_db(tx.dialect, now),
            ),
        )


def sweep(db: Database, *, now: datetime, retention: timedelta = RETENTION) -> int:
    """Delete the keys recorded before `now - retention`; return how many went."""
    if retention < timedelta(hours=24):
        raise ValidationError(f"retention must be at least 24 hours; got {retention}", field="retention")
    with db.transaction() as tx:
        cursor = tx.execute(
            "DELETE FROM idempotency_keys WHERE created_at < ?", (time_to_db(tx.dialect, now - retention),)
        )
        return max(int(cursor.rowcount or 0), 0)


class Sweeper:
    """The worker job removing expired keys in every location, at most once per :data:`SWEEP_EVERY` seconds."""

    def __init__(self, runtime: Runtime, *, clock: Clock = system_clock, every: float = SWEEP_EVERY) -> None:
        self.runtime = runtime
        self.clock = clock
        self.every = every
        self._last: float | None = None

    def __call__(self) -> int:
        """Sweep when due; return how many keys went."""
        if self._last is not None and time.monotonic() - self._last < self.every:
            return 0
        self._last = time.monotonic()
        now = self.clock()
        done = 0
        for spec in self.runtime.placement.all():
            db = self.runtime.location(spec).db
            db.ensure(MIGRATIONS)  # SQLite: made now; PostgreSQL: `datastrata migrate` made it
            done += sweep(db, now=now)
        return done
