"""Command handling: a command writes its state rows and appends its events in one transaction (the outbox)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from datastrata.core.errors import ConcurrencyConflict
from datastrata.core.events import Event, NewEvent
from datastrata.core.retry import ATTEMPTS, retry_conflicts
from datastrata.runtime.location import Work
from datastrata.runtime.scope import Scope
from datastrata.runtime.units import Units
from datastrata.stores.database import is_unique_violation


@dataclass(frozen=True, slots=True)
class Decision:
    """What a command decided: the events to append to the stream of `scope`, at `expected_version` (None: any)."""

    scope: Scope
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


#: A decider validates inside the unit of work, writes the state rows and returns the events to append.
Decider = Callable[[Work], Decision]


class CommandHandler:
    """Runs handlers in a transaction with their events; a lost race is retried so rules see committed state."""

    def __init__(self, units: Units, *, retries: int = ATTEMPTS - 1) -> None:
        self.units = units
        self.retries = retries

    def execute(self, command: str, scope: Scope, handler: Decider) -> CommandResult:
        """Run `handler` in a transaction of `scope` and append its decision atomically; return events and token.

        The decision's scope must live where `scope` does (one transaction never spans two locations).
        """

        def attempt() -> CommandResult:
            with self.units.transaction(scope) as work:
                decision = handler(work)
                appended = work.append(
                    decision.events, expected_version=decision.expected_version, scope=decision.scope
                )
            return CommandResult(command, decision.scope.stream_id, appended.events, work.log.identity)

        def unique_race(exc: Exception) -> ConcurrencyConflict | None:
            # A concurrent writer inserted the same key first: run again so the handler's rule check sees it.
            if not is_unique_violation(exc):
                return None
            return ConcurrencyConflict(f"{command}: another writer kept changing the same record; retry the command")

        return retry_conflicts(attempt, attempts=self.retries + 1, conflict=unique_race)
