"""The supervisor: every follower and job in its own failure boundary, with capped exponential backoff.

One failing follower stays in its room: it backs off (``backing-off``) and is retried later, not on every round,
while the others go on. An event that fails a follower `max_attempts` times is parked in the dead letters; the
follower's policy then says ``halt`` (the default: it stops at the event, ``halted``, until an operator retries or
skips it) or ``skip`` (it moves past the event and goes on). Halts live in the dead-letter table, so an operator in
another process (``datastrata deadletters skip``) releases a halted worker; one query per round reads them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from datastrata.core.clock import Clock, system_clock
from datastrata.core.errors import EventFailed
from datastrata.core.redact import describe_error
from datastrata.eventlog.checkpoints import Lag
from datastrata.messaging.delivery import PARKED, RESOLVED, RETRY, DeadLetter, DeadLetters
from datastrata.projections.follower import LogFollower

log = logging.getLogger(__name__)

RUNNING, BACKING_OFF, HALTED = "running", "backing-off", "halted"
STATES = (RUNNING, BACKING_OFF, HALTED)
HALT, SKIP = "halt", "skip"
#: Failures of one event before it is parked; backoff after the first failure and its cap (seconds).
MAX_ATTEMPTS, BASE_DELAY, MAX_DELAY = 5, 0.5, 60.0
#: How long a measured lag is reused by health and metrics before it is counted again (seconds).
LAG_EVERY = 5.0


@dataclass(eq=False)
class Boundary:
    """One follower or job, its policy and what the supervisor knows of it."""

    name: str
    kind: str
    step: Callable[[], int]
    follower: LogFollower[Any] | None = None
    measure: Callable[[], list[Lag]] | None = None
    policy: str = HALT
    state: str = RUNNING
    failures: int = 0
    retry_at: float = 0.0
    last_error: str | None = None
    halted_on: DeadLetter | None = None
    attempts: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    lags: list[Lag] = field(default_factory=list)
    measured_at: float | None = None


@dataclass(frozen=True, slots=True)
class FollowerStatus:
    """A boundary's state for health, metrics and ``datastrata lag`` (one row per lag it measures)."""

    name: str
    kind: str
    state: str
    policy: str
    position: int | None
    head: int | None
    behind: int | None
    last_error: str | None
    failures: int

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape."""
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "policy": self.policy,
            "position": self.position,
            "head": self.head,
            "lag": self.behind,
            "last_error": self.last_error,
            "failures": self.failures,
        }


class Supervisor:
    """Runs each boundary once per round unless it is halted or backing off; records what failed and why."""

    def __init__(
        self,
        dead_letters: DeadLetters,
        *,
        clock: Clock = system_clock,
        monotonic: Callable[[], float] = time.monotonic,
        max_attempts: int = MAX_ATTEMPTS,
        base_delay: float = BASE_DELAY,
        max_delay: float = MAX_DELAY,
        lag_every: float = LAG_EVERY,
    ) -> None:
        self.dead_letters = dead_letters
        self.clock = clock
        self.monotonic = monotonic
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.lag_every = lag_every
        self.boundaries: dict[str, Boundary] = {}
        self._lock = threading.RLock()

    def watch(
        self,
        name: str,
        kind: str,
        step: Callable[[], int],
        *,
        follower: LogFollower[Any] | None = None,
        measure: Callable[[], list[Lag]] | None = None,
        policy: str = HALT,
    ) -> Boundary:
        """Put `step` in a failure boundary of its own (once per name; a second call replaces the first)."""
        if policy not in (HALT, SKIP):
            raise ValueError(f"policy must be {HALT!r} or {SKIP!r}; got {policy!r}")
        if follower is not None and measure is None:
            measure = lambda: [follower.lag()]  # noqa: E731
        boundary = Boundary(name, kind, step, follower, measure, policy)
        with self._lock:
            self.boundaries[name] = boundary
        return boundary

    def follower(
        self, follower: LogFollower[Any], *, kind: str = "projection", policy: str = HALT, name: str | None = None
    ) -> Boundary:
        """Watch a follower of the log (its `run_once` is the step) under `name` (default: the follower's)."""
        measure = None
        if name is not None and name != follower.name:
            measure = lambda: [dataclasses.replace(follower.lag(), name=name)]  # noqa: E731
        return self.watch(
            name or follower.name, kind, follower.run_once, follower=follower, measure=measure, policy=policy
        )

    # ---- rounds --------------------------------------------------------------------------------------------

    def sync(self) -> dict[str, list[DeadLetter]]:
        """Read the open dead letters (one query) and halt or release each follower to match; return them."""
        waiting: dict[str, list[DeadLetter]] = {}
        for letter in self.dead_letters.open():
            waiting.setdefault(letter.consumer, []).append(letter)
        for boundary in list(self.boundaries.values()):
            self._sync(boundary, waiting.get(boundary.name, []))
        return waiting

    def run_once(self) -> int:
        """Run every boundary that is due once; return the work done (a failure counts as none)."""
        waiting = self.sync()
        done = 0
        for boundary in list(self.boundaries.values()):
            letters = waiting.get(boundary.name, [])
            if boundary.state == HALTED or self.monotonic() < boundary.retry_at:
                continue
            try:
                work = boundary.step()
            except EventFailed as exc:
                self._event_failed(boundary, exc)
            except Exception as exc:  # the boundary: whatever one follower raises stays with it
                self._failed(boundary, describe_error(exc))
            else:
                self._succeeded(boundary, work, letters)
                done += work
        return done

    def _sync(self, boundary: Boundary, letters: list[DeadLetter]) -> None:
        """Halt on a parked letter (policy halt); resume once an operator retried or skipped it."""
        if boundary.follower is None or boundary.policy != HALT:
            return
        parked = next((x for x in letters if x.status == PARKED), None)
        if parked is not None and boundary.follower.position() >= parked.position:
            if not boundary.follower.rebuilding_before(parked.position):
                self.dead_letters.set_status(parked.id, RESOLVED)  # applied since (a rebuild after the fix)
            parked = None  # a rebuild's letter the live follower is past: it waits for the rebuild, not for a halt
        if parked is not None:
            if boundary.state != HALTED:
                self._halt(boundary, parked)
        elif boundary.state == HALTED:
            boundary.state, boundary.failures, boundary.retry_at, boundary.halted_on = RUNNING, 0, 0.0, None
            boundary.attempts.clear()
            boundary.follower.halted = None

    def _halt(self, boundary: Boundary, letter: DeadLetter) -> None:
        boundary.state, boundary.halted_on, boundary.last_error = HALTED, letter, letter.error
        assert boundary.follower is not None
        boundary.follower.halted = EventFailed(
            boundary.name,
            letter.event_id,
            letter.position,
            letter.error,
            event_type=letter.event_type,
            stream_id=letter.stream_id,
            tenant_id=letter.tenant_id,
        )
        log.error("follower %s halted on event %s: %s", boundary.name, letter.event_id, letter.error)

    def _succeeded(self, boundary: Boundary, work: int, letters: list[DeadLetter]) -> None:
        if boundary.state != RUNNING:
            log.info("%s %s recovered", boundary.kind, boundary.name)
        boundary.state, boundary.failures, boundary.retry_at = RUNNING, 0, 0.0
        if work:
            boundary.attempts.clear()  # the log is applied in order: whatever failed before is behind it now
        if boundary.follower is not None:
            retried = [x for x in letters if x.status == RETRY]
            position = boundary.follower.position() if retried else 0
            for letter in retried:
                if position >= letter.position:
                    self.dead_letters.set_status(letter.id, RESOLVED)

    def _event_failed(self, boundary: Boundary, exc: EventFailed) -> None:
        count, first_seen = boundary.attempts.get(exc.event_id, (0, self.clock()))
        count += 1
        if count < self.max_attempts or boundary.follower is None:
            boundary.attempts[exc.event_id] = (count, first_seen)
            self._failed(boundary, exc.error)
            return
        boundary.attempts.pop(exc.event_id, None)
        self.dead_letters.record(boundary.name, exc, exc.error, count, first_seen=first_seen)
        boundary.last_error = exc.error
        if boundary.policy == SKIP:
            boundary.follower.skip_past(exc.position)
            boundary.state, boundary.failures, boundary.retry_at = RUNNING, 0, 0.0
            log.warning("follower %s skipped event %s: %s", boundary.name, exc.event_id, exc.error)
            return
        (letter,) = [
            x
            for x in self.dead_letters.list(boundary.name)
            if (x.event_id, x.tenant_id) == (exc.event_id, exc.tenant_id)
        ]
        self._halt(boundary, letter)

    def _failed(self, boundary: Boundary, error: str) -> None:
        boundary.failures += 1
        delay = min(self.max_delay, self.base_delay * 2 ** (boundary.failures - 1))
        boundary.state, boundary.retry_at, boundary.last_error = BACKING_OFF, self.monotonic() + delay, error
        log.warning("%s %s failed (%d in a row), retrying in %.1fs: %s", boundary.kind, boundary.name,
                    boundary.failures, delay, error)  # fmt: skip

    # ---- reports -------------------------------------------------------------------------------------------

    def statuses(self, *, fresh: bool = False) -> list[FollowerStatus]:
        """Return every boundary's state and lag; lags are reused for `lag_every` seconds unless `fresh`.

        Halts are read from the dead letters first, so a process that runs no worker reports them too.
        """
        self.sync()
        rows: list[FollowerStatus] = []
        for b in list(self.boundaries.values()):
            lags = self._lags(b, fresh)
            if not lags:
                rows.append(
                    FollowerStatus(b.name, b.kind, b.state, b.policy, None, None, None, b.last_error, b.failures)
                )
            for lag in lags:
                rows.append(
                    FollowerStatus(
                        lag.name,
                        b.kind,
                        b.state,
                        b.policy,
                        lag.position,
                        lag.head,
                        lag.behind,
                        b.last_error,
                        b.failures,
                    )
                )
        return rows

    def _lags(self, boundary: Boundary, fresh: bool) -> list[Lag]:
        if boundary.measure is None:
            return []
        now = self.monotonic()
        if fresh or boundary.measured_at is None or now - boundary.measured_at >= self.lag_every:
            boundary.lags, boundary.measured_at = boundary.measure(), now
        return boundary.lags
