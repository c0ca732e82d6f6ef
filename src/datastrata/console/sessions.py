"""The console's sign-in sessions: a random id in an HttpOnly cookie, only its hash in the home store.

Signing in with an API key opens a session bound to the key's id. Every request finds the session by the hash of
its id and re-reads the key, so a revoked or expired key ends its sessions at once; a session also ends after
:data:`IDLE` without a request and :data:`ABSOLUTE` after sign-in, whichever comes first (docs/decisions.md).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from datastrata.console.schema import MIGRATIONS
from datastrata.core.clock import Clock, system_clock
from datastrata.core.errors import NotFound
from datastrata.security.keys import ApiKey, KeyStore, Principal, key_store
from datastrata.stores.database import Database, time_from_db, time_to_db

if TYPE_CHECKING:
    from datastrata.runtime import Runtime

#: A session ends after this long without a request.
IDLE = timedelta(minutes=30)
#: A session ends this long after sign-in, however busy.
ABSOLUTE = timedelta(hours=12)
#: How stale ``last_seen_at`` may get before a request writes it again (one write a minute, not one per request).
TOUCH_EVERY = timedelta(minutes=1)
#: What a session id looks like (``secrets.token_urlsafe(32)``): anything else is not looked up.
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")


def session_hash(session_id: str) -> str:
    """Return the stored form of a session id: its SHA-256, hex (the id is 256 random bits: no salt needed)."""
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A session just opened: its id (for the cookie, never stored) and the principal it acts as."""

    session_id: str
    principal: Principal
    expires_at: datetime


class ConsoleSessions:
    """The console's sessions in the home store, checked against the API keys on every request."""

    def __init__(
        self,
        db: Database,
        keys: KeyStore,
        *,
        clock: Clock = system_clock,
        idle: timedelta = IDLE,
        absolute: timedelta = ABSOLUTE,
    ) -> None:
        self.db = db
        self.keys = keys
        self.clock = clock
        self.idle = idle
        self.absolute = absolute
        db.ensure(MIGRATIONS)

    def open(self, key: str) -> SignedIn:
        """Sign in with the full API key `key` (refused like a bearer key: Unauthorized); return the new session."""
        principal = self.keys.authenticate(key.strip())
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        expires = now + self.absolute
        with self.db.transaction() as tx:
            tx.execute(  # sessions that ended are swept at each sign-in: the table holds live ones only
                "DELETE FROM console_sessions WHERE expires_at <= ? OR last_seen_at <= ?",
                (time_to_db(tx.dialect, now), time_to_db(tx.dialect, now - self.idle)),
            )
            tx.execute(
                "INSERT INTO console_sessions (session_sha256, key_id, created_at, last_seen_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    session_hash(session_id),
                    principal.key_id,
                    time_to_db(tx.dialect, now),
                    time_to_db(tx.dialect, now),
                    time_to_db(tx.dialect, expires),
                ),
            )
        return SignedIn(session_id, principal, expires)

    def find(self, session_id: str) -> Principal | None:
        """Return the principal of a live session whose key is still active, or None (and forget an ended one)."""
        if not _SESSION_ID.match(session_id):
            return None
        digest = session_hash(session_id)
        with self.db.read() as tx:
            row = tx.one(
                "SELECT key_id, last_seen_at, expires_at FROM console_sessions WHERE session_sha256 = ?", (digest,)
            )
        if row is None:
            return None
        now = self.clock()
        last_seen, expires = time_from_db(row[1]), time_from_db(row[2])
        try:
            key: ApiKey | None = self.keys.get(str(row[0]))
        except NotFound:  # the key was deleted with its tenant
            key = None
        if key is None or key.state(now) != "active" or expires <= now or last_seen + self.idle <= now:
            self._delete(digest)
            return None
        if now - last_seen >= TOUCH_EVERY:
            with self.db.transaction() as tx:
                tx.execute(
                    "UPDATE console_sessions SET last_seen_at = ? WHERE session_sha256 = ?",
                    (time_to_db(tx.dialect, now), digest),
                )
        return Principal(key.key_id, key.tenant, key.role)

    def close(self, session_id: str) -> None:
        """End the session `session_id` (signing out); an unknown one is already ended."""
        self._delete(session_hash(session_id))

    def count(self, key_id: str) -> int:
        """Return how many sessions the key `key_id` has open (ended ones included until swept)."""
        with self.db.read() as tx:
            return int(tx.scalar("SELECT count(*) FROM console_sessions WHERE key_id = ?", (key_id,)) or 0)

    def _delete(self, digest: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM console_sessions WHERE session_sha256 = ?", (digest,))


def sessions_of(runtime: Runtime) -> ConsoleSessions:
    """Return the console's sessions of `runtime`'s home location (built once per runtime)."""
    store: ConsoleSessions = runtime.service(
        "console.sessions", lambda r: ConsoleSessions(r.db, key_store(r), clock=r.clock)
    )
    return store
