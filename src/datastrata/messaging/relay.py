"""The outbox relay: follows the log (the outbox) from its checkpoint and publishes to the bus.

Events are written once, in the command's own transaction, to the event log; the log is the outbox. The relay
publishes then moves its checkpoint, so a crash in between republishes (at-least-once) and never loses an event;
the Redis bus drops the repeats by entry id and consumers are idempotent by event id.

On the in-process bus every consumer has its own checkpoint (``relay:memory:<consumer>``): whichever process
relays delivers to the consumers it has registered, and a consumer registered in no relaying process is not
skipped — it catches up where it left off the next time a process with it relays.
"""

from __future__ import annotations

from datastrata.eventlog.checkpoints import Checkpoints, Lag, check_identity
from datastrata.eventlog.log import EventLog
from datastrata.messaging.bus import Bus, InProcessBus, Subscription


class OutboxRelay:
    """Publishes committed events to a bus in global order."""

    def __init__(self, log: EventLog, bus: Bus, *, batch_size: int = 500) -> None:
        self.log = log
        self.bus = bus
        self.batch_size = batch_size
        self.checkpoints = Checkpoints(log.db)
        self.name = f"relay:{bus.name}"
        self._tidied = isinstance(bus, InProcessBus)

    def _consumers(self) -> list[Subscription] | None:
        """The in-process bus's subscriptions, or None for a bus that keeps its own per-consumer state."""
        return self.bus.subscriptions if isinstance(self.bus, InProcessBus) else None

    def _checkpoint(self, name: str) -> int:
        """Return checkpoint `name`, refusing one made against another log."""
        mark = self.checkpoints.mark(name)
        check_identity(mark, self.log.identity, where=f"relay checkpoint {name!r}", fix="point --store at its own log")
        return mark.position

    def position(self) -> int:
        """Return the last position published (on the in-process bus: the slowest consumer's)."""
        consumers = self._consumers()
        if consumers is None:
            return self._checkpoint(self.name)
        if not consumers:
            return self.log.head()
        return min(self._checkpoint(self._name_of(sub)) for sub in consumers)

    def lags(self) -> list[Lag]:
        """Return the relay's lag (one per consumer on the in-process bus)."""
        consumers = self._consumers()
        if consumers is None:
            return [Lag.of(self.name, self.position(), self.log)]
        return [Lag.of(self._name_of(s), self.checkpoints.get(self._name_of(s)), self.log) for s in consumers]

    def run_once(self) -> int:
        """Publish the next page of events; return how many events were handed over."""
        consumers = self._consumers()
        if consumers is not None:
            return sum(self._deliver(sub) for sub in consumers)
        if not self._tidied:
            self._forget_url_checkpoints()
        after = self._checkpoint(self.name)
        page = self.log.read_page(after=after, limit=self.batch_size)
        if page.next_after == after:
            return 0
        self.bus.publish(page.events)
        self._advance(self.name, after, page.next_after, page.events[-1].event_id if page.events else None)
        return len(page.events)

    def _forget_url_checkpoints(self) -> None:
        """Delete relay checkpoints of older releases, which were named by the bus URL (password included).

        They are not adopted: a URL does not say which server it reached, so the relay reads the log once from the
        start instead and publishes only what the stream lacks (the stream refuses ids it already holds).
        """
        with self.log.db.transaction() as tx:
            tx.execute("DELETE FROM projection_checkpoints WHERE name LIKE 'relay:redis%://%'")
        self._tidied = True

    def _advance(self, name: str, after: int, to: int, event_id: str | None) -> None:
        """Move a checkpoint from `after` to `to`, unless another relay moved it meanwhile (never backwards)."""
        with self.log.db.transaction() as tx:
            if self.checkpoints.get_in(tx, name, for_update=True) == after:
                self.checkpoints.set_in(tx, name, to, event_id, self.log.identity)

    def _deliver(self, sub: Subscription) -> int:
        """Hand one in-process consumer its next page (retries and dead letters are the delivery's)."""
        name = self._name_of(sub)
        after = self._checkpoint(name)
        page = self.log.read_page(after=after, limit=self.batch_size, types=sub.types)
        if page.next_after == after:
            return 0
        for event in page.events:
            sub.delivery.deliver(event)
        self._advance(name, after, page.next_after, page.events[-1].event_id if page.events else None)
        return len(page.events)

    def _name_of(self, sub: Subscription) -> str:
        return f"{self.name}:{sub.delivery.consumer}"

    def drain(self) -> int:
        """Publish until the relay reaches the head of the log; return how many events were handed over."""
        total = 0
        while published := self.run_once():
            total += published
        return total
