"""Command handling: a command writes its state rows and appends its events in one transaction (the outbox)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from datastrata.core.errors import ConcurrencyConflict
from datastrata.core.events import Event, NewEvent
from datastrata.eventlog.log import EventLog
from datastrata.stores.database import Tx, is_unique_violation


@dataclass(frozen=True, slots=True)
class Decision:
    """What a command decided: the events to append to `stream_id`, at `expected_version` (None: any)."""

    stream_id: str
    events: Sequence[NewEvent]
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class CommandResult:
    """A committed command: its events and the consistency token (the position it committed at, in log `log_id`)."""

    command: str
    stream_id: str
    events: tuple[Event, ...]
    log_id: str | None = None

    @property
    def token(self) -> int:
        """The global position of the command's last event; pass it to a query as ``after``."""
        return self.events[-1].position

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape of the outcome."""
        return {
            "command": self.command,
            "stream_id": self.stream_id,
            "token": self.token,
            "log": self.log_id,
            "events": [
                {"type": e.type, "position": e.position, "version": e.version, "payload": dict(e.payload)}
                for e in self.events
            ],
        }


#: A handler validates inside the transaction, writes the state rows and returns the events to append.
Handler = Callable[[Tx], Decision]


class CommandHandler:
    """Runs handlers in a transaction with their events; a lost race is retried so rules see committed state."""

    def __init__(self, log: EventLog, *, retries: int = 3) -> None:
        self.log = log
        self.retries = retries

    def execute(self, command: str, handler: Handler) -> CommandResult:
        """Run `handler` and append its decision atomically; return the committed events and token."""
        for attempt in range(self.retries + 1):
            try:
                with self.log.db.transaction() as tx:
                    decision = handler(tx)
                    appended = self.log.append_in(
                        tx, decision.stream_id, decision.events, expected_version=decision.expected_version
                    )
                return CommandResult(command, decision.stream_id, appended.events, self.log.identity)
            except ConcurrencyConflict:
                if attempt == self.retries:
                    raise
            except Exception as exc:
                # A concurrent writer inserted the same key first: run again so the handler's rule check sees it.
                if not is_unique_violation(exc):
                    raise
                if attempt == self.retries:
                    raise ConcurrencyConflict(
                        f"{command}: another writer kept changing the same record; retry the command"
                    ) from None
        raise AssertionError("unreachable")
