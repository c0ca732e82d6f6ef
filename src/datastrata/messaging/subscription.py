"""What a bus hands events to: a named consumer's delivery and the event types it wants."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from datastrata.core.events import Event
from datastrata.messaging.delivery import Delivery

EventHandler = Callable[[Event], None]


@dataclass(frozen=True, slots=True)
class Subscription:
    """A named consumer and the event types it wants (None: all)."""

    delivery: Delivery
    types: frozenset[str] | None

    def wants(self, event: Event) -> bool:
        """True when this subscription takes `event`."""
        return self.types is None or event.type in self.types
