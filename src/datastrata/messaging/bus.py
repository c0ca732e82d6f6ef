"""Buses: in-process (default) and Redis Streams with consumer groups; both fed only by the outbox relay."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from typing import Protocol

from datastrata.core.config import url_scheme
from datastrata.core.errors import ConfigurationError
from datastrata.core.events import Event
from datastrata.messaging.delivery import DeadLetters, Delivery
from datastrata.messaging.redis_streams import RedisStreamsBus, default_consumer_name
from datastrata.messaging.subscription import EventHandler, Subscription

__all__ = ["Bus", "EventHandler", "InProcessBus", "RedisStreamsBus", "Subscription", "open_bus"]


class Bus(Protocol):
    """Where the relay publishes events and consumers receive them."""

    name: str

    def publish(self, events: Sequence[Event]) -> int:
        """Publish events in order; return how many were new to the bus."""

    def subscribe(
        self, consumer: str, handler: EventHandler, *, types: Collection[str] | None = None, attempts: int = 3
    ) -> None:
        """Register a consumer (a consumer group on Redis)."""

    def unsubscribe(self, consumer: str) -> None:
        """Stop handing events to `consumer` in this process (a Redis consumer group keeps its place)."""

    def poll(self, *, block_ms: int = 0) -> int:
        """Deliver waiting messages to the consumers; return how many deliveries were made."""

    def delivery(self, consumer: str) -> Delivery | None:
        """Return the delivery of consumer `consumer`, if it subscribed in this process."""

    def close(self) -> None:
        """Release connections."""


class InProcessBus:
    """Delivers each published event to every subscriber synchronously, with retries and dead letters."""

    name = "memory"

    def __init__(self, dead_letters: DeadLetters) -> None:
        self.dead_letters = dead_letters
        self.subscriptions: list[Subscription] = []
        self._published_upto = 0
        self._lock = threading.Lock()

    def publish(self, events: Sequence[Event]) -> int:
        """Deliver `events` to each subscriber (skipping positions this bus already delivered)."""
        with self._lock:
            fresh = [e for e in events if e.position > self._published_upto]
            for event in fresh:
                for sub in self.subscriptions:
                    if sub.wants(event):
                        sub.delivery.deliver(event)
                self._published_upto = event.position
            return len(fresh)

    def subscribe(
        self, consumer: str, handler: EventHandler, *, types: Collection[str] | None = None, attempts: int = 3
    ) -> None:
        """Register `handler` under the name `consumer`."""
        delivery = Delivery(consumer, handler, self.dead_letters, attempts=attempts)
        self.subscriptions.append(Subscription(delivery, frozenset(types) if types is not None else None))

    def unsubscribe(self, consumer: str) -> None:
        """Stop delivering to `consumer`."""
        with self._lock:
            self.subscriptions = [s for s in self.subscriptions if s.delivery.consumer != consumer]

    def poll(self, *, block_ms: int = 0) -> int:
        """Nothing waits on an in-process bus: delivery happens at publish time."""
        return 0

    def delivery(self, consumer: str) -> Delivery | None:
        """Return the delivery of consumer `consumer`, if it subscribed."""
        return next((s.delivery for s in self.subscriptions if s.delivery.consumer == consumer), None)

    def close(self) -> None:
        """Nothing to release."""


def open_bus(url: str, dead_letters: DeadLetters, *, log_id: str | None = None, consumer: str = "") -> Bus:
    """Return the bus named by `url`: ``memory://`` or ``redis://host:port/db`` (the stream of the log `log_id`).

    `consumer` names this process within each Redis consumer group (default: ``<host>:<pid>``).
    """
    scheme = url_scheme(url, role="bus")
    if scheme == "memory":
        return InProcessBus(dead_letters)
    if scheme in {"redis", "rediss"}:
        if log_id is None:
            raise ConfigurationError("a Redis bus carries one log's events; pass log_id (Runtime.open does)")
        return RedisStreamsBus(url, dead_letters, log_id=log_id, consumer_name=consumer or default_consumer_name())
    raise ConfigurationError(f"bus URL scheme {scheme!r} is not supported; use memory:// or redis://host:6379/0")
