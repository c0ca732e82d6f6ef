"""Delivery: call a handler with retries and backoff; after the last failure, record a dead letter."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from datastrata.core.clock import Clock, system_clock
from datastrata.core.events import Event
from datastrata.messaging.schema import MIGRATIONS
from datastrata.stores.database import Database, time_from_db, time_to_db

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event a consumer could not handle after every retry."""

    consumer: str
    event_id: str
    position: int
    event_type: str
    stream_id: str
    error: str
    attempts: int
    failed_at: datetime


class DeadLetters:
    """The dead-letter record: what failed, for whom, why, and how often it was tried."""

    def __init__(self, db: Database, *, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock
        db.ensure(MIGRATIONS)

    def record(self, consumer: str, event: Event, error: str, attempts: int) -> None:
        """Store a dead letter (once per consumer and event)."""
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO messaging_dead_letters (consumer, event_id, position, event_type, stream_id, error, "
                "attempts, failed_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (consumer, event_id) DO UPDATE SET "
                "error = excluded.error, attempts = excluded.attempts, failed_at = excluded.failed_at",
                (
                    consumer,
                    event.event_id,
                    event.position,
                    event.type,
                    event.stream_id,
                    error,
                    attempts,
                    time_to_db(tx.dialect, self.clock()),
                ),
            )

    def list(self, consumer: str | None = None) -> list[DeadLetter]:
        """Return dead letters, oldest first, optionally for one consumer."""
        sql = (
            "SELECT consumer, event_id, position, event_type, stream_id, error, attempts, failed_at "
            "FROM messaging_dead_letters"
        )
        params: tuple[str, ...] = ()
        if consumer is not None:
            sql += " WHERE consumer = ?"
            params = (consumer,)
        with self.db.read() as tx:
            rows = tx.query(sql + " ORDER BY id", params)
        return [
            DeadLetter(str(r[0]), str(r[1]), int(r[2]), str(r[3]), str(r[4]), str(r[5]), int(r[6]), time_from_db(r[7]))
            for r in rows
        ]


class Delivery:
    """Hands events to one consumer, retrying failures and dead-lettering what never succeeds."""

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
        for attempt in range(1, self.attempts + 1):
            try:
                self.handler(event)
                return True
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.warning("consumer %s failed on %s (attempt %d): %s", self.consumer, event.event_id, attempt, error)
                if attempt < self.attempts:
                    time.sleep(self.backoff * 2 ** (attempt - 1))
        self.dead_letters.record(self.consumer, event, error, self.attempts)
        if self.on_dead_letter is not None:
            self.on_dead_letter(event, error)
        return False
