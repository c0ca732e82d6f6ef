"""Buses: in-process (default) and Redis Streams with consumer groups; both fed only by the outbox relay."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from datastrata.core import codec
from datastrata.core.config import url_scheme
from datastrata.core.errors import BackendUnavailable, ConfigurationError
from datastrata.core.events import Event, event_from_dict
from datastrata.core.redact import redact_url
from datastrata.messaging.delivery import DeadLetters, Delivery

Handler = Callable[[Event], None]
STREAM_KEY = "datastrata:events"


@dataclass(frozen=True, slots=True)
class Subscription:
    """A named consumer and the event types it wants (None: all)."""

    delivery: Delivery
    types: frozenset[str] | None

    def wants(self, event: Event) -> bool:
        """True when this subscription takes `event`."""
        return self.types is None or event.type in self.types


class Bus(Protocol):
    """Where the relay publishes events and consumers receive them."""

    name: str

    def publish(self, events: Sequence[Event]) -> int:
        """Publish events in order; return how many were new to the bus."""

    def subscribe(
        self, consumer: str, handler: Handler, *, types: Collection[str] | None = None, attempts: int = 3
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
        self, consumer: str, handler: Handler, *, types: Collection[str] | None = None, attempts: int = 3
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


class RedisStreamsBus:
    """One Redis stream; entry ids derive from log positions, so a republished event is never added twice."""

    def __init__(
        self,
        url: str,
        dead_letters: DeadLetters,
        *,
        key: str = STREAM_KEY,
        consumer_name: str = "c1",
        log_id: str | None = None,
    ) -> None:
        try:
            import redis
        except ImportError as exc:  # pragma: no cover - depends on installed extras
            raise BackendUnavailable("the Redis bus needs redis-py: pip install 'datastrata[redis]'") from exc
        self.name = url
        self.key = key
        self.consumer_name = consumer_name
        self.dead_letters = dead_letters
        self.client: Any = redis.Redis.from_url(url)
        self._errors: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError)
        self._response_error = redis.ResponseError
        self.subscriptions: dict[str, Subscription] = {}
        try:
            self.client.ping()
        except self._errors as exc:
            raise BackendUnavailable(f"cannot reach Redis at {url}: {exc}; check the URL and that it runs") from exc
        if log_id is not None:
            self._follow(log_id)

    def _follow(self, log_id: str) -> None:
        """Record the log this stream carries (first use), or refuse a stream that carries another log's events."""
        marker = f"{self.key}:log"
        self.client.set(marker, log_id, nx=True)
        stored = self.client.get(marker)
        stored = stored.decode() if isinstance(stored, bytes) else stored
        if stored != log_id:
            raise ConfigurationError(
                f"bus {redact_url(self.name)} stream {self.key} follows log {stored}, this store's log is {log_id}; "
                f"point --bus at another Redis database, or start the stream again (redis-cli DEL {self.key} {marker})"
            )

    def publish(self, events: Sequence[Event]) -> int:
        """XADD each event with id ``<position>-1``; ids at or below the stream's top were published before."""
        if not events:
            return 0
        top = self._top_position()
        fresh = [e for e in events if e.position > top]
        if not fresh:
            return 0
        pipe = self.client.pipeline(transaction=False)
        for e in fresh:
            pipe.xadd(self.key, {"event": codec.encode(e.to_dict())}, id=f"{e.position}-1")
        try:
            results = pipe.execute(raise_on_error=False)
        except self._errors as exc:
            raise BackendUnavailable(f"Redis at {self.name} failed while publishing: {exc}") from exc
        added = 0
        for result in results:
            if isinstance(result, self._response_error):
                if "equal or smaller" not in str(result):
                    raise BackendUnavailable(f"Redis refused an event: {result}")
            else:
                added += 1
        return added

    def _top_position(self) -> int:
        """Return the position of the newest entry in the stream (0 when empty)."""
        try:
            info = self.client.xrevrange(self.key, count=1)
        except self._errors as exc:
            raise BackendUnavailable(f"Redis at {self.name} failed while publishing: {exc}") from exc
        if not info:
            return 0
        entry_id = info[0][0]
        return int((entry_id.decode() if isinstance(entry_id, bytes) else entry_id).split("-")[0])

    def subscribe(
        self, consumer: str, handler: Handler, *, types: Collection[str] | None = None, attempts: int = 3
    ) -> None:
        """Create (if needed) the consumer group `consumer`, reading the stream from its start."""
        try:
            self.client.xgroup_create(self.key, consumer, id="0", mkstream=True)
        except self._response_error as exc:
            if "BUSYGROUP" not in str(exc):
                raise BackendUnavailable(f"Redis refused consumer group {consumer!r}: {exc}") from exc
        except self._errors as exc:
            raise BackendUnavailable(f"cannot reach Redis at {self.name}: {exc}") from exc
        delivery = Delivery(consumer, handler, self.dead_letters, attempts=attempts)
        self.subscriptions[consumer] = Subscription(delivery, frozenset(types) if types is not None else None)

    def unsubscribe(self, consumer: str) -> None:
        """Stop reading for `consumer` here; its consumer group and pending entries stay for the next process."""
        self.subscriptions.pop(consumer, None)

    def poll(self, *, block_ms: int = 0, count: int = 500) -> int:
        """Deliver first this consumer's unacknowledged messages (after a crash), then new ones; ack each."""
        delivered = 0
        for group, sub in self.subscriptions.items():
            for start in ("0", ">"):
                try:
                    reply = self.client.xreadgroup(
                        group,
                        self.consumer_name,
                        {self.key: start},
                        count=count,
                        block=block_ms if start == ">" and block_ms else None,
                    )
                except self._errors as exc:
                    raise BackendUnavailable(f"Redis at {self.name} failed while reading: {exc}") from exc
                for _key, entries in reply or []:
                    for entry_id, fields in entries:
                        if fields:
                            event = event_from_dict(codec.decode(fields[b"event"]))
                            if sub.wants(event):
                                sub.delivery.deliver(event)
                                delivered += 1
                        self._ack(group, entry_id)
        return delivered

    def delivery(self, consumer: str) -> Delivery | None:
        """Return the delivery of consumer group `consumer`, if it subscribed in this process."""
        sub = self.subscriptions.get(consumer)
        return sub.delivery if sub is not None else None

    def _ack(self, group: str, entry_id: Any) -> None:
        """Acknowledge one entry for `group`."""
        try:
            self.client.xack(self.key, group, entry_id)
        except self._errors as exc:
            raise BackendUnavailable(f"Redis at {self.name} failed while acknowledging: {exc}") from exc

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


def open_bus(url: str, dead_letters: DeadLetters, *, log_id: str | None = None) -> Bus:
    """Return the bus named by `url`: ``memory://`` or ``redis://host:port/db`` (carrying the log `log_id`)."""
    scheme = url_scheme(url, role="bus")
    if scheme == "memory":
        return InProcessBus(dead_letters)
    if scheme in {"redis", "rediss"}:
        return RedisStreamsBus(url, dead_letters, log_id=log_id)
    raise ConfigurationError(f"bus URL scheme {scheme!r} is not supported; use memory:// or redis://host:6379/0")
