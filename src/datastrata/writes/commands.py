"""Command handling: a command writes its state rows and appends its events in one transaction (the outbox)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from datastrata.core.errors import ConcurrencyConflict
from datastrata.core.events import Event, NewEvent
from datastrata.core.retry import ATTEMPTS, retry_conflicts
from datastrata.runtime.location import Work
from datastrata.runtime.scope import Scope
from datastrata.runtime.units import Units
from datastrata.stores.database import is_unique_violation
from datastrata.writes.idempotency import MIGRATIONS as IDEMPOTENCY
from datastrata.writes.idempotency import Claim

T = TypeVar("T")


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
    duplicate: bool = False

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
            "duplicate": self.duplicate,
            "events": [
                {"type": e.type, "position": e.position, "version": e.version, "payload": dict(e.payload)}
                for e in self.events
            ],
        }

    def to_stored(self) -> dict[str, Any]:
        """Return the result as kept with its idempotency key (the events whole)."""
        return {
            "command": self.command,
            "stream_id": self.stream_id,
            "log": self.log_id,
            "events": [msgspec.to_builtins(e) for e in self.events],
        }

    @classmethod
    def replayed(cls, stored: dict[str, Any]) -> CommandResult:
        """Return the stored result of a command, marked as a replay (``duplicate``)."""
        events = tuple(msgspec.convert(e, Event) for e in stored["events"])
        return cls(str(stored["command"]), str(stored["stream_id"]), events, stored["log"], duplicate=True)


#: A decider validates inside the unit of work, writes the state rows and returns the events to append.
Decider = Callable[[Work], Decision]


class CommandHandler:
    """Runs commands in one transaction with their events and idempotency key; lost races are retried.

    Every system's commands go through :meth:`run` (or :meth:`execute` for a decider), so one rule holds
    everywhere: a key (scoped to tenant and command) returns its stored result, other content under it is refused.
    """

    def __init__(self, units: Units, *, retries: int = ATTEMPTS - 1) -> None:
        self.units = units
        self.retries = retries
        units.ensure(IDEMPOTENCY)

    def run(
        self,
        command: str,
        scope: Scope,
        body: Callable[[Work], T],
        *,
        encode: Callable[[T], dict[str, Any]],
        decode: Callable[[dict[str, Any]], T],
        key: str | None = None,
        content: Mapping[str, Any] | None = None,
        key_field: str = "event_id",
    ) -> T:
        """Run `body` in a transaction of `scope`; with `key`, return the stored result of an earlier run instead.

        `content` is what the key promises (the command's arguments); `encode` turns the result into the JSON
        stored with the key, `decode` turns stored JSON back into the result a replay returns; `key_field` is the
        name the caller gave the key (errors name it).
        """
        claim = (
            None
            if key is None
            else Claim.of(scope.tenant, f"{scope.context}.{command}", key, content or {}, field=key_field)
        )

        def attempt() -> T:
            with self.units.transaction(scope) as work:
                if claim is not None and (stored := claim.stored_in(work)) is not None:
                    return decode(stored)
                result = body(work)
                if claim is not None:
                    claim.remember_in(work, encode(result), self.units.clock())
                return result

        def unique_race(exc: Exception) -> ConcurrencyConflict | None:
            # A concurrent writer (or a twin with the same key) committed first: run again to see what it stored.
            if not is_unique_violation(exc):
                return None
            return ConcurrencyConflict(f"{command}: another writer kept changing the same record; retry the command")

        return retry_conflicts(attempt, attempts=self.retries + 1, conflict=unique_race)

    def execute(
        self,
        command: str,
        scope: Scope,
        decide: Decider,
        *,
        key: str | None = None,
        content: Mapping[str, Any] | None = None,
    ) -> CommandResult:
        """Run `decide` in a transaction of `scope` and append its decision atomically; return events and token.

        The decision's scope must live where `scope` does (one transaction never spans two locations).
        """

        def body(work: Work) -> CommandResult:
            decision = decide(work)
            appended = work.append(decision.events, expected_version=decision.expected_version, scope=decision.scope)
            return CommandResult(command, decision.scope.stream_id, appended.events, work.log.identity)

        return self.run(
            command,
            scope,
            body,
            encode=CommandResult.to_stored,
            decode=CommandResult.replayed,
            key=key,
            content=content,
        )
