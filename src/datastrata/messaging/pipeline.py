"""The outbox relay with several pages in flight, for a bus whose answer comes back later (a link with latency).

:class:`~datastrata.messaging.relay.OutboxRelay` waits for each page's answer before it reads the next, so over a
link an event waits up to a whole round trip for its page to leave. This relay keeps up to `window` pages on their
way: it reads each page after the last one sent, and moves its checkpoint (the same one, committed the same way)
page by page in the order sent, each once the far side answered. A failure anywhere drops what is in flight and
starts again from the checkpoint: the bus keeps the order of what it carries and the consumer drops repeats by event
id, so nothing is lost, applied twice or applied out of order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from datastrata.core.events import Event
from datastrata.eventlog.log import EventLog
from datastrata.messaging.bus import Bus
from datastrata.messaging.relay import OutboxRelay

#: Pages a pipelined relay keeps on their way at most.
WINDOW = 32
#: Seconds a round waits for the oldest page's answer when it has nothing new to send.
ANSWER_WAIT = 0.01


class PipeBus(Bus, Protocol):
    """A bus that sends a page now and answers later, keeping the order of what it carries."""

    def send(self, events: Sequence[Event]) -> Any:
        """Put `events` on their way; a ticket for their answer."""

    def answered(self, ticket: Any, *, timeout: float = 0.0) -> bool:
        """True once `ticket`'s page was answered (waiting up to `timeout`); raise why it failed."""

    def drain(self) -> None:
        """After a failure: wait until nothing sent is still on its way."""


@dataclass(frozen=True, slots=True)
class _InFlight:
    after: int
    to: int
    last_event_id: str | None
    events: int
    ticket: Any


class PipelinedRelay(OutboxRelay):
    """An outbox relay keeping up to `window` pages in flight, its checkpoint moved in order as answers come back."""

    def __init__(
        self, log: EventLog, bus: PipeBus, *, window: int = WINDOW, batch_size: int = 500, wait: float = ANSWER_WAIT
    ) -> None:
        super().__init__(log, bus, batch_size=batch_size)
        self.pipe = bus
        self.window = window
        self.wait = wait
        self._flight: deque[_InFlight] = deque()
        self._sent_to: int | None = None

    def run_once(self) -> int:
        """Harvest the answers back, send what the window allows; the events answered or sent (in flight: ≥ 1)."""
        try:
            done = self._harvest(0.0) + self._send()
            if not done and self._flight:
                done = self._harvest(self.wait)
        except BaseException:
            self._rewind()
            raise
        return done or len(self._flight)

    def _send(self) -> int:
        sent = 0
        while len(self._flight) < self.window:
            after = self._checkpoint(self.name) if self._sent_to is None else self._sent_to
            page = self.log.read_page(after=after, limit=self.batch_size)
            if page.next_after == after:
                break
            ticket = self.pipe.send(page.events)
            last = page.events[-1].event_id if page.events else None
            self._flight.append(_InFlight(after, page.next_after, last, len(page.events), ticket))
            self._sent_to = page.next_after
            sent += len(page.events)
            if not page.events:  # the log moved past positions no event holds: nothing more to read now
                break
        return sent

    def _harvest(self, timeout: float) -> int:
        moved = 0
        while self._flight and self.pipe.answered(self._flight[0].ticket, timeout=timeout):
            page = self._flight.popleft()
            self._advance(self.name, page.after, page.to, page.last_event_id)
            moved += page.events
            timeout = 0.0
        return moved

    def _rewind(self) -> None:
        """Forget what is in flight and start again from the checkpoint once nothing is on its way."""
        self.pipe.drain()
        self._flight.clear()
        self._sent_to = None

    def position(self) -> int:
        """The last position answered (the checkpoint; pages in flight are not counted)."""
        return self._checkpoint(self.name)
