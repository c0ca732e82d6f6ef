"""Delivery: call a handler with retries and backoff; after the last failure, record a dead letter.

One dead-letter store serves every follower (projections, the graph, the relay) and every bus consumer.
"""

from __future__ import annotations

import builtins
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from datastrata.core.clock import Clock, system_clock
from datastrata.core.errors import NotFound, ValidationError
from datastrata.core.events import Event
from datastrata.core.redact import describe_error, redact_url
from datastrata.core.tenancy import DEFAULT_TENANT
from datastrata.messaging.schema import MIGRATIONS
from datastrata.stores.database import Database, time_from_db, time_to_db

log = logging.getLogger(__name__)

#: Dead-letter states: waiting for an operator, asked to retry, retried successfully, moved past.
PARKED, RETRY, RESOLVED, SKIPPED = "parked", "retry", "resolved", "skipped"
STATUSES = (PARKED, RETRY, RESOLVED, SKIPPED)


class Failed(Protocol):
    """What a dead letter names: an event of the log (its ``tenant_id`` too, when it has one; else the default)."""

    @property
    def event_id(self) -> str:
        """The event's id."""

    @property
    def position(self) -> int:
        """The event's position."""

    @property
    def type(self) -> str:
        """The event's type."""

    @property
    def stream_id(self) -> str:
        """The event's stream."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event a follower or consumer could not handle after every retry."""

    consumer: str
    event_id: str
    position: int
    event_type: str
    stream_id: str
    error: str
    attempts: int
    failed_at: datetime
    id: int = 0
    first_seen: datetime | None = None
    status: str = PARKED
    tenant_id: str = DEFAULT_TENANT

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape (`follower` names the follower or consumer it failed)."""
        return {
            "id": self.id,
            "follower": self.consumer,
            "event_id": self.event_id,
            "position": self.position,
            "event_type": self.event_type,
            "stream_id": self.stream_id,
            "tenant_id": self.tenant_id,
            "error": self.error,
            "attempts": self.attempts,
            "first_seen": (self.first_seen or self.failed_at).isoformat(),
            "last_seen": self.failed_at.isoformat(),
            "status": self.status,
        }


_COLUMNS = (
    "consumer, event_id, position, event_type, stream_id, error, attempts, failed_at, id, first_seen, status, tenant_id"
)


class DeadLetters:
    """The dead-letter record: what failed, for whom, why, how often and since when; and what an operator did."""

    def __init__(self, db: Database, *, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock
        db.ensure(MIGRATIONS)

    def record(
        self, consumer: str, event: Failed, error: str, attempts: int, *, first_seen: datetime | None = None
    ) -> None:
        """Park a dead letter (once per consumer and tenant's event; a second failure updates it and parks it again)."""
        now = self.clock()
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO messaging_dead_letters (consumer, tenant_id, event_id, position, event_type, stream_id, "
                "error, attempts, failed_at, first_seen, status) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT (consumer, tenant_id, event_id) DO UPDATE SET error = excluded.error, "
                "attempts = messaging_dead_letters.attempts + excluded.attempts, failed_at = excluded.failed_at, "
                "status = excluded.status",
                (
                    consumer,
                    getattr(event, "tenant_id", DEFAULT_TENANT),  # event ids are unique per tenant
                    event.event_id,
                    event.position,
                    event.type,
                    event.stream_id,
                    redact_url(error),
                    attempts,
                    time_to_db(tx.dialect, now),
                    time_to_db(tx.dialect, first_seen or now),
                    PARKED,
                ),
            )

    def list(
        self,
        consumer: str | None = None,
        *,
        status: str | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[DeadLetter]:
        """Return dead letters, oldest first, optionally of one consumer, in one status, after id `after`, bounded."""
        where: builtins.list[str] = []
        params: builtins.list[str | int] = []
        if after is not None:
            where.append("id > ?")
            params.append(after)
        if consumer is not None:
            where.append("consumer = ?")
            params.append(consumer)
        if status is not None:
            if status not in STATUSES:
                raise ValidationError(f"status {status!r} is unknown; use one of {list(STATUSES)}", field="status")
            where.append("status = ?")
            params.append(status)
        sql = f"SELECT {_COLUMNS} FROM messaging_dead_letters"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self.db.read() as tx:
            return [_letter(r) for r in tx.query(sql, params)]

    def open(self) -> builtins.list[DeadLetter]:
        """Return the letters still waiting (parked or asked to retry), oldest first: one query per worker round."""
        sql = f"SELECT {_COLUMNS} FROM messaging_dead_letters WHERE status IN (?, ?) ORDER BY id"
        with self.db.read() as tx:
            return [_letter(r) for r in tx.query(sql, (PARKED, RETRY))]

    def get(self, letter_id: int) -> DeadLetter:
        """Return one dead letter by id."""
        with self.db.read() as tx:
            row = tx.one(f"SELECT {_COLUMNS} FROM messaging_dead_letters WHERE id = ?", (letter_id,))
        if row is None:
            raise NotFound(f"no dead letter {letter_id}; list them with `datastrata deadletters list`", field="id")
        return _letter(row)

    def set_status(self, letter_id: int, status: str, *, error: str | None = None) -> None:
        """Move a dead letter to `status` (recording a new `error` when given)."""
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE messaging_dead_letters SET status = ?, error = coalesce(?, error) WHERE id = ?",
                (status, redact_url(error) if error else None, letter_id),
            )

    def counts(self) -> dict[tuple[str, str], int]:
        """Return how many dead letters each consumer has in each status (for /metrics)."""
        with self.db.read() as tx:
            rows = tx.query("SELECT consumer, status, count(*) FROM messaging_dead_letters GROUP BY consumer, status")
        return {(str(c), str(s)): int(n) for c, s, n in rows}


def _letter(r: Any) -> DeadLetter:
    return DeadLetter(
        str(r[0]),
        str(r[1]),
        int(r[2]),
        str(r[3]),
        str(r[4]),
        str(r[5]),
        int(r[6]),
        time_from_db(r[7]),
        int(r[8]),
        time_from_db(r[9]) if r[9] is not None else None,
        str(r[10]),
        str(r[11]),
    )


class Delivery:
    """Hands events to one consumer, retrying failures and dead-lettering what never succeeds (policy: skip)."""

    def __init__(
        self,
        consumer: str,
        handler: Callable[[Event], None],
        dead_letters: DeadLetters,
        *,
        attempts: int = 3,
        backoff: float = 0.05,
        on_dead_letter: Callable[[Event, str], None] | None = None,
    ) -> None:
        self.consumer = consumer
        self.handler = handler
        self.dead_letters = dead_letters
        self.attempts = attempts
        self.backoff = backoff
        self.on_dead_letter = on_dead_letter

    def deliver(self, event: Event) -> bool:
        """Deliver one event; True when handled, False when it went to the dead letters."""
        error = ""
        first_seen: datetime | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                self.handler(event)
                return True
            except Exception as exc:
                first_seen = first_seen or self.dead_letters.clock()
                error = describe_error(exc)
                log.warning("consumer %s failed on %s (attempt %d): %s", self.consumer, event.event_id, attempt, error)
                if attempt < self.attempts:
                    time.sleep(self.backoff * 2 ** (attempt - 1))
        self.dead_letters.record(self.consumer, event, error, self.attempts, first_seen=first_seen)
        if self.on_dead_letter is not None:
            self.on_dead_letter(event, error)
        return False
