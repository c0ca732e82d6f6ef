"""The platform: one place that opens the stores a set of settings names and wires the spine together."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datastrata.core.clock import Clock, system_clock
from datastrata.core.config import Settings
from datastrata.eventlog.log import EventLog
from datastrata.eventlog.subscriptions import Waiter, waiter_for
from datastrata.messaging.bus import Bus, open_bus
from datastrata.messaging.delivery import DeadLetters
from datastrata.messaging.relay import OutboxRelay
from datastrata.projections.projection import Projection
from datastrata.projections.runner import Follower, Lag, ProjectionRunner
from datastrata.stores.cache import Cache, open_cache
from datastrata.stores.database import Database
from datastrata.stores.open import open_database

log = logging.getLogger(__name__)


@dataclass
class Platform:
    """The opened stores (database, log, bus) and every registered projection."""

    settings: Settings
    db: Database
    log: EventLog
    bus: Bus
    dead_letters: DeadLetters
    relay: OutboxRelay
    clock: Clock = system_clock
    runners: dict[str, Follower] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)
    jobs: dict[str, Callable[[], int]] = field(default_factory=dict)
    _cache: Cache | None = None

    @property
    def cache(self) -> Cache:
        """The cache named by the settings, opened on first use."""
        if self._cache is None:
            self._cache = open_cache(self.settings.cache)
        return self._cache

    @classmethod
    def open(cls, settings: Settings, *, clock: Clock = system_clock) -> Platform:
        """Open every store named by `settings`."""
        db = open_database(settings.store)
        try:
            event_log = EventLog(db, clock=clock)
            dead_letters = DeadLetters(db, clock=clock)
            bus = open_bus(settings.bus, dead_letters)
        except BaseException:
            db.close()
            raise
        return cls(settings, db, event_log, bus, dead_letters, OutboxRelay(event_log, bus), clock)

    def register(self, projection: Projection, *, batch_size: int = 500) -> ProjectionRunner:
        """Register a projection (once per name) and return its runner."""
        runner = self.runners.get(projection.name)
        if not isinstance(runner, ProjectionRunner):
            runner = ProjectionRunner(self.log, projection, batch_size=batch_size)
            self.attach(runner)
        return runner

    def attach(self, runner: Follower) -> None:
        """Drive `runner` with the others: worker rounds, ``lag`` and ``rebuild`` (a graph runner, a batch runner…)."""
        self.runners[runner.name] = runner

    def service(self, name: str, factory: Callable[[Platform], Any]) -> Any:
        """Return the service `name`, building it with `factory` the first time."""
        if name not in self.services:
            self.services[name] = factory(self)
        return self.services[name]

    def add_job(self, name: str, job: Callable[[], int]) -> None:
        """Run `job` on every worker round (e.g. activating future-dated data); it returns the work it did."""
        self.jobs[name] = job

    def run_once(self) -> int:
        """Relay the outbox, run every projection one page, poll the bus and run the jobs; return the work done."""
        done = self.relay.run_once()
        for runner in list(self.runners.values()):
            done += runner.run_once()
        done += self.bus.poll()
        for job in list(self.jobs.values()):
            done += job()
        return done

    def lags(self) -> list[Lag]:
        """Return the lag of the relay and of every projection."""
        return self.relay.lags() + [r.lag() for r in self.runners.values()]

    def run_worker(self, stop: threading.Event, *, idle_wait: float = 0.5) -> None:
        """Run the relay, projections and jobs until `stop` is set, sleeping until the log grows when idle."""
        waiter: Waiter | None = None
        try:
            while not stop.is_set():
                try:
                    busy = self.run_once()
                    if not busy:
                        waiter = waiter or waiter_for(self.db)
                        waiter.wait(idle_wait)
                except Exception:  # a worker must survive a passing store failure; the next round retries
                    log.exception("worker round failed; retrying in %.1fs", idle_wait)
                    if waiter is not None:
                        with contextlib.suppress(Exception):
                            waiter.close()
                        waiter = None  # reopen it: its connection may be what failed
                    stop.wait(idle_wait)
        finally:
            if waiter is not None:
                waiter.close()

    def close(self) -> None:
        """Close the bus and the database."""
        self.bus.close()
        if self._cache is not None:
            self._cache.close()
        self.db.close()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
