"""Each service's own events: its log is its outbox, a relay per service publishes it to the bus.

The runtime relays the home log; a ``by_context`` runtime's services each have a log of their own, so each gets an
:class:`~datastrata.messaging.relay.OutboxRelay` of its own here, in its own failure boundary of the runtime's
supervisor (a failing service's relay backs off; the others go on). On the in-process bus every consumer keeps a
checkpoint per service log (in that service's store); on Redis each service's log is a stream of its own
(``datastrata:events:<log id>``), so a consumer subscribes to the services whose events it wants.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable

from datastrata.eventlog.checkpoints import Lag
from datastrata.messaging.bus import Bus, EventHandler, InProcessBus, open_bus
from datastrata.messaging.relay import OutboxRelay
from datastrata.runtime.runtime import Runtime
from datastrata.services.placement import ByContext


class ServiceEvents:
    """The relays of every service of a ``by_context`` runtime, and the buses their events reach consumers on."""

    def __init__(self, runtime: Runtime, placement: ByContext) -> None:
        self.runtime = runtime
        self.relays: dict[str, OutboxRelay] = {}
        self.buses: dict[str, Bus] = {}
        shared = runtime.bus if isinstance(runtime.bus, InProcessBus) else None
        for name, spec in placement.services.items():
            location = runtime.location(spec)
            runtime.pin(location)  # its relay and consumers run for the runtime's life
            if shared is not None:
                bus: Bus = shared
            else:
                bus = open_bus(
                    runtime.settings.bus,
                    runtime.dead_letters,
                    log_id=location.log.identity,
                    consumer=runtime.settings.consumer,
                )
                runtime.on_close(bus.close)
                runtime.supervisor.watch(f"bus:{bus.name}@{name}", "bus", bus.poll)
            relay = OutboxRelay(location.log, bus)
            boundary = f"relay@{name}"
            runtime.supervisor.watch(boundary, "relay", relay.run_once, measure=_named(relay, boundary))
            self.relays[name], self.buses[name] = relay, bus

    def subscribe(
        self,
        consumer: str,
        handler: EventHandler,
        *,
        types: Collection[str],
        producers: Iterable[str],
        attempts: int = 3,
    ) -> None:
        """Hand `consumer` the events of `types` that the services `producers` record (once each: an inbox)."""
        seen: set[int] = set()
        for name in producers:
            bus = self.buses[name]
            if id(bus) not in seen:  # the in-process bus is one for every service
                bus.subscribe(consumer, handler, types=types, attempts=attempts)
                seen.add(id(bus))

    def lags(self) -> list[Lag]:
        """Every service relay's place in its log (one per consumer on the in-process bus)."""
        return [lag for relay in self.relays.values() for lag in relay.lags()]

    def pending(self) -> int:
        """Events the services recorded that their relays have not handed over yet."""
        return sum(lag.behind for lag in self.lags())


def _named(relay: OutboxRelay, boundary: str) -> Callable[[], list[Lag]]:
    """The relay's lags named after its boundary (every service's relay has the same checkpoint names)."""
    return lambda: [dataclasses.replace(lag, name=f"{boundary}:{lag.name}") for lag in relay.lags()]
