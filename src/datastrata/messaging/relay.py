"""The outbox relay: follows the log (the outbox) from its checkpoint and publishes to the bus.

Events are written once, in the command's own transaction, to the event log; the log is the outbox. The relay
publishes then moves its checkpoint, so a crash in between republishes (at-least-once) and never loses an event;
the Redis bus drops the repeats by entry id and consumers are idempotent by event id.
"""

from __future__ import annotations

from datastrata.eventlog.log import EventLog
from datastrata.messaging.bus import Bus
from datastrata.projections.checkpoints import Checkpoints


class OutboxRelay:
    """Publishes committed events to a bus in global order."""

    def __init__(self, log: EventLog, bus: Bus, *, batch_size: int = 500) -> None:
        self.log = log
        self.bus = bus
        self.batch_size = batch_size
        self.checkpoints = Checkpoints(log.db)
        self.name = f"relay:{bus.name}"

    def position(self) -> int:
        """Return the last position published."""
        return self.checkpoints.get(self.name)

    def run_once(self) -> int:
        """Publish the next page of events; return how many events the page held."""
        after = self.position()
        page = self.log.read_page(after=after, limit=self.batch_size)
        if page.next_after == after:
            return 0
        self.bus.publish(page.events)
        with self.log.db.transaction() as tx:
            self.checkpoints.set_in(tx, self.name, page.next_after, page.events[-1].event_id if page.events else None)
        return len(page.events)

    def drain(self) -> int:
        """Publish until the relay reaches the head of the log; return how many events were published."""
        total = 0
        while published := self.run_once():
            total += published
        return total
