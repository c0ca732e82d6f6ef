"""The cross-region forwarder: each shard's outbox relay publishes business events over the link to Singapore.

It is the messaging layer's outbox relay, pipelined (:class:`~datastrata.messaging.pipeline.PipelinedRelay`), on
each shard's log, sending to a bus whose transport is the link: up to 32 pages on their way at once, so an event
leaves as soon as it is read instead of waiting for the previous page's round trip. The relay moves its checkpoint
(kept in the shard's own store) page by page, in order, only after Singapore answered, so a cut loses nothing: what
was in flight is sent again from the checkpoint once the link is back, and Singapore's inbox drops what it applied
before. One relay per shard reads its log in order, its pipe carries pages in the order sent (a lost page loses
those behind it), and an account lives on one shard, so each account's events arrive in the order New York
recorded them. Raw events stay in New York.

Each shard's relay runs in a failure boundary of its own (a supervisor per shard: a cut link backs it off and is
reported, then it resumes); in the background each one has its own thread, so a round trip on one shard does not
hold up another's.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Collection, Sequence

from datastrata.core.errors import ConfigurationError
from datastrata.core.events import Event
from datastrata.eventlog.checkpoints import Lag
from datastrata.messaging.delivery import DeadLetters, Delivery
from datastrata.messaging.pipeline import PipelinedRelay
from datastrata.messaging.subscription import EventHandler
from datastrata.runtime.supervisor import FollowerStatus, Supervisor
from datastrata.systems.trading.domain import BUSINESS_EVENTS
from datastrata.systems.trading.link import Crossing, Link, Pipe
from datastrata.systems.trading.newyork import NewYork
from datastrata.systems.trading.threads import start_each

#: What Singapore does with a page (in one process: its service's ``receive``; across processes: an HTTP call).
Receiver = Callable[[Sequence[Event]], int]
#: Seconds a forwarder backs off at most after a failed crossing (it resumes this soon after a restore).
MAX_BACKOFF = 1.0


class LinkBus:
    """A bus whose transport is the link: pages of business events on their way to Singapore, in order."""

    name = "link:singapore"

    def __init__(self, link: Link, receiver: Receiver, *, pipe: str = "singapore") -> None:
        self.link = link
        self.receiver = receiver
        self.pipe = Pipe(link, pipe)

    def send(self, events: Sequence[Event]) -> Crossing | None:
        """Put the page's business events on their way (raw ones stay); None when the page had none."""
        business = [e for e in events if e.type in BUSINESS_EVENTS]
        if not business:
            return None
        return self.pipe.send(lambda: self.receiver(business), what=f"page of {len(business)} business events")

    def answered(self, ticket: Crossing | None, *, timeout: float = 0.0) -> bool:
        """True once Singapore's answer to the page is back; raise what happened to it on the link."""
        return ticket is None or self.pipe.answered(ticket, timeout=timeout)

    def drain(self) -> None:
        """Wait until no page is on its way (after a failure), so the pages sent again arrive in order."""
        self.pipe.drain()

    def publish(self, events: Sequence[Event]) -> int:
        """Carry the page's business events to Singapore and wait for the answer; return how many crossed."""
        ticket = self.send(events)
        while not self.answered(ticket, timeout=1.0):
            pass
        return 0 if ticket is None else sum(1 for e in events if e.type in BUSINESS_EVENTS)

    def subscribe(
        self, consumer: str, handler: EventHandler, *, types: Collection[str] | None = None, attempts: int = 3
    ) -> None:
        """Refused: Singapore's query-model service is the one consumer at the far end."""
        raise ConfigurationError(
            f"the link bus carries business events to Singapore's read model only; consume {consumer!r} from "
            "Singapore's store instead"
        )

    def unsubscribe(self, consumer: str) -> None:
        """Nobody subscribes here."""

    def poll(self, *, block_ms: int = 0) -> int:
        """Nothing waits on the link: a page is delivered when it is published."""
        return 0

    def delivery(self, consumer: str) -> Delivery | None:
        """No consumer subscribes in this process."""
        return None

    def close(self) -> None:
        """Stop the pipe's carrier thread."""
        self.pipe.close()


class Forwarders:
    """One outbox relay per New York shard, each over the link to Singapore, each in its own failure boundary."""

    def __init__(self, new_york: NewYork, link: Link, receiver: Receiver) -> None:
        self.relays: dict[str, PipelinedRelay] = {}
        self.supervisors: dict[str, Supervisor] = {}
        runtime = new_york.runtime
        letters = DeadLetters(runtime.platform.db, clock=runtime.clock)
        for spec in new_york.placement.all()[1:]:
            location = runtime.location(spec)
            runtime.pin(location)
            relay = PipelinedRelay(location.log, LinkBus(link, receiver, pipe=spec.name))
            supervisor = Supervisor(letters, clock=runtime.clock, base_delay=0.05, max_delay=MAX_BACKOFF)
            name = f"trading.forward@{spec.name}"
            supervisor.watch(name, "relay", relay.run_once, measure=_named(relay, name))
            self.relays[spec.name], self.supervisors[spec.name] = relay, supervisor
        self._threads: list[threading.Thread] = []

    def run_once(self) -> int:
        """One round of every shard's relay (in turn); the business events that crossed."""
        return sum(supervisor.run_once() for supervisor in self.supervisors.values())

    def lags(self) -> list[Lag]:
        """Each shard relay's position in its log."""
        return [lag for relay in self.relays.values() for lag in relay.lags()]

    def statuses(self) -> list[FollowerStatus]:
        """Each shard relay's state (running, backing off after a failed crossing) and its last error."""
        return [s for supervisor in self.supervisors.values() for s in supervisor.statuses(fresh=True)]

    def start(self, stop: threading.Event) -> None:
        """Drive each shard's relay in a thread of its own until `stop` is set."""
        self._threads += start_each(self.supervisors, stop, what="forward")

    def join(self, timeout: float = 5.0) -> None:
        """Wait for the threads :meth:`start` began (after `stop` was set)."""
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def close(self) -> None:
        """Stop every shard's pipe (after :meth:`join`)."""
        for relay in self.relays.values():
            relay.pipe.close()


def _named(relay: PipelinedRelay, name: str) -> Callable[[], list[Lag]]:
    """The relay's lag under its boundary's name (every shard's relay has the same checkpoint name in its own log)."""
    return lambda: [dataclasses.replace(lag, name=name) for lag in relay.lags()]
