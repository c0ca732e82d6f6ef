"""Messaging: the outbox relay, buses (in-process, Redis Streams), delivery with retries and dead letters."""

from datastrata.messaging.bus import Bus, EventHandler, open_bus
from datastrata.messaging.delivery import DeadLetters, Delivery
from datastrata.messaging.inbox import Inbox
from datastrata.messaging.relay import OutboxRelay

__all__ = ["Bus", "DeadLetters", "Delivery", "EventHandler", "Inbox", "OutboxRelay", "open_bus"]
