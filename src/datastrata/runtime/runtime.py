"""The runtime: opens the locations a placement names, hands out scoped transactions and drives the followers."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar, cast

from datastrata.core.clock import Clock, system_clock
from datastrata.core.config import Settings
from datastrata.core.errors import BackendUnavailable, NotFound
from datastrata.core.events import Event, NewEvent
from datastrata.core.redact import redact_url
from datastrata.core.tenancy import platform as platform_context
from datastrata.core.tenancy import tenant
from datastrata.eventlog.checkpoints import Lag
from datastrata.eventlog.log import ANY, AppendResult, EventLog
from datastrata.eventlog.subscriptions import Waiter, waiter_for
from datastrata.messaging.bus import Bus, RedisStreamsBus, open_bus
from datastrata.messaging.delivery import DeadLetters
from datastrata.messaging.relay import OutboxRelay
from datastrata.projections.follower import LogFollower
from datastrata.projections.projection import Projection
from datastrata.projections.runner import Follower, ProjectionRunner
from datastrata.runtime.jobs import MIGRATIONS as JOBS
from datastrata.runtime.location import Location, LocationSpec, Work
from datastrata.runtime.placement import Placement, Single
from datastrata.runtime.scope import Scope
from datastrata.runtime.supervisor import HALT, FollowerStatus, Supervisor
from datastrata.runtime.tenants import SingleTenant, StoredDirectory, TenantDirectory, require_tenant
from datastrata.stores.cache import Cache, open_cache
from datastrata.stores.database import Database
from datastrata.stores.migrations import Component
from datastrata.tiering.schema import ICEBERG_CATALOG
from datastrata.tiering.schema import MIGRATIONS as TIERING
from datastrata.tiering.schema import RESTORES as TIERING_RESTORES
from datastrata.writes.idempotency import SWEEP_JOB, Sweeper

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Follower)

#: How many locations a runtime keeps open at once by default (the least recently used unpinned one closes).
MAX_OPEN = 32
#: Set while the supervisor drives followers and jobs: their units of work in the home location use the platform pool.
_AS_PLATFORM: contextvars.ContextVar[bool] = contextvars.ContextVar("datastrata_as_platform", default=False)


class Runtime:
    """Placement, the opened locations, the bus and cache, every follower, the services built on them."""

    def __init__(
        self,
        settings: Settings,
        placement: Placement,
        home: Location,
        bus: Bus,
        dead_letters: DeadLetters,
        *,
        clock: Clock = system_clock,
        max_open: int = MAX_OPEN,
        platform: Location | None = None,
        tenants: TenantDirectory | None = None,
    ) -> None:
        self.settings = settings
        #: Which tenants exist and where each lives (one ``default`` tenant until a catalogue says otherwise).
        self.tenants: TenantDirectory = tenants or SingleTenant()
        self.placement = placement
        self.clock = clock
        self.home = home
        #: The home location as the followers and jobs reach it: the platform role's own pool (or `home` itself).
        self.platform = platform or home
        self.bus = bus
        self.dead_letters = dead_letters
        self.relay = OutboxRelay(self.platform.log, bus)
        self.supervisor = Supervisor(dead_letters, clock=clock)
        self.supervisor.watch(redact_url(self.relay.name), "relay", self.relay.run_once, measure=self.relay.lags)
        measure = self._bus_lags if isinstance(bus, RedisStreamsBus) else None
        self.supervisor.watch(f"bus:{redact_url(bus.name)}", "bus", bus.poll, measure=measure)
        self.max_open = max(1, max_open)
        self.runners: dict[str, Follower] = {}
        self.deferred: dict[str, Callable[[], Follower]] = {}
        self.services: dict[str, Any] = {}
        self.jobs: dict[str, Callable[[], int]] = {}
        #: Readiness checks beyond "the store answers" (e.g. ``migrations``): each raises when not ready.
        self.readiness: dict[str, Callable[[], object]] = {}
        #: What degrades health while it answers a non-empty reason (e.g. a tiering dataset blocked on its config).
        self.degraded_by: dict[str, Callable[[], str]] = {}
        self._cache: Cache | None = None
        self._open: OrderedDict[str, Location] = OrderedDict({home.name: home})
        self._pinned: set[str] = {home.name}
        self._in_use: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._closers: list[Callable[[], None]] = []
        self.add_job(SWEEP_JOB, Sweeper(self, clock=clock))  # idempotency keys past their retention

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        placement: Placement | None = None,
        max_open: int = MAX_OPEN,
    ) -> Runtime:
        """Open the home location of `placement` (default: the single location of `settings`) and the bus."""
        placement = placement or Single.from_settings(settings)
        spec = placement.all()[0]
        home = Location.open(spec, clock=clock)
        platform: Location | None = None
        try:
            if settings.platform_store and settings.platform_store != spec.store:
                platform = Location.open(replace(spec, store=settings.platform_store), clock=clock)
            followers = platform or home
            dead_letters = DeadLetters(followers.db, clock=clock)
            followers.db.ensure(JOBS)  # job records (rebuilds) live in the home store
            followers.db.ensure(TIERING)  # and the tiering move audit
            followers.db.ensure(ICEBERG_CATALOG)  # with the Iceberg catalog its cold parts may be registered in
            followers.db.ensure(TIERING_RESTORES)  # and its restore requests
            tenants = StoredDirectory(followers.db)  # and the tenant catalogue
            bus = open_bus(settings.bus, dead_letters, log_id=home.log.identity, consumer=settings.consumer)
        except BaseException:
            if platform is not None:
                platform.close()
            home.close()
            raise
        return cls(
            settings,
            placement,
            home,
            bus,
            dead_letters,
            clock=clock,
            max_open=max_open,
            platform=platform,
            tenants=tenants,
        )

    # ---- placement -----------------------------------------------------------------------------------------

    @property
    def db(self) -> Database:
        """The home location's database (the spine's own state: checkpoints, dead letters; operators' tools)."""
        return self.home.db

    @property
    def log(self) -> EventLog:
        """The home location's event log."""
        return self.home.log

    def locate(self, scope: Scope) -> Location:
        """Return the opened location of a keyed operation in `scope`."""
        return self.location(self.placement.locate(scope))

    def locations(self, scope: Scope) -> list[Location]:
        """Return every opened location an operation spanning `scope` visits."""
        return [self.location(spec) for spec in self.placement.locations(scope)]

    def location(self, spec: LocationSpec) -> Location:
        """Return the location `spec` names, opening it on first use (the least recently used idle one closes)."""
        with self._lock:
            opened = self._open.get(spec.name)
            if opened is not None:
                self._open.move_to_end(spec.name)
                return opened
            opened = Location.open(spec, clock=self.clock)
            self._open[spec.name] = opened
            self._evict()
            return opened

    def pin(self, location: Location) -> None:
        """Keep `location` open for the runtime's life (a location whose followers this process drives)."""
        with self._lock:
            self._pinned.add(location.name)

    def _evict(self) -> None:
        for name in list(self._open):
            if len(self._open) <= self.max_open:
                return
            if name not in self._pinned and not self._in_use[name]:
                self._open.pop(name).close()

    @contextlib.contextmanager
    def _using(self, scope: Scope) -> Iterator[Location]:
        """Pin the location of `scope` while a unit of work runs in it, on behalf of the scope's tenant."""
        require_tenant(scope, self.tenants)
        with self._lock:
            location = self.locate(scope)
            self._in_use[location.name] += 1
        if location is self.home and _AS_PLATFORM.get():
            location = self.platform  # a follower's or job's work: the platform role's pool
        try:
            if scope.all_tenants:  # a platform job's scope (require_tenant allowed it): no tenant is bound
                yield location
                return
            with tenant(scope.tenant):
                yield location
        finally:
            with self._lock:
                self._in_use[location.name] -= 1

    @contextlib.contextmanager
    def transaction(self, scope: Scope) -> Iterator[Work]:
        """Open a write transaction in the location of `scope`: all its effects, events included, or none."""
        charged = None
        if not scope.all_tenants and self.tenants.multi_tenant():  # read before the transaction holds a connection
            with contextlib.suppress(NotFound):  # a tenant the directory does not hold is the placement's to refuse
                charged = self.tenants.placement(scope.tenant)
        with self._using(scope) as location, location.transaction(scope) as work:
            if charged is not None:  # its appends are charged to the tenant's quota
                work.tenants, work.placement = self.tenants, charged
            yield work

    @contextlib.contextmanager
    def read(self, scope: Scope) -> Iterator[Work]:
        """Open a read snapshot in the location of `scope`."""
        with self._using(scope) as location, location.read(scope) as work:
            yield work

    def ensure(self, component: Component) -> None:
        """Make sure `component`'s migrations are applied in every location the placement names (opened if need be)."""
        for spec in self.placement.all():
            self.location(spec).ensure(component)

    def append(self, scope: Scope, events: Sequence[NewEvent], *, expected_version: int | None = ANY) -> AppendResult:
        """Append `events` to the stream of `scope` as one transaction of its own."""
        if self.tenants.multi_tenant():  # charged to the tenant's quota in the same transaction
            with self.transaction(scope) as work:
                return work.append(events, expected_version=expected_version)
        with self._using(scope) as location:
            return location.log.append(scope.stream_id, events, expected_version=expected_version)

    def stream(
        self,
        scope: Scope,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Read the stream of `scope` in version order (bounded by version or business time)."""
        with self._using(scope) as location:
            return location.log.read(
                scope.stream_id, from_version=from_version, to_version=to_version, until=until, limit=limit
            )

    def version(self, scope: Scope) -> int:
        """Return the current version of the stream of `scope` (0: no events)."""
        with self._using(scope) as location:
            return location.log.version(scope.stream_id)

    def head(self, scope: Scope) -> int:
        """Return the head of the log in the location of `scope` (the position a consistency token waits for)."""
        with self._using(scope) as location:
            return location.log.head()

    # ---- services and followers ----------------------------------------------------------------------------

    @property
    def cache(self) -> Cache:
        """The cache named by the settings, opened on first use."""
        if self._cache is None:
            self._cache = open_cache(self.settings.cache)
        return self._cache

    def register(self, projection: Projection, *, batch_size: int = 500, policy: str = HALT) -> ProjectionRunner:
        """Register a projection of the home location (once per name) and return its runner."""
        return self.follow(
            projection.name, lambda log: ProjectionRunner(log, projection, batch_size=batch_size), policy=policy
        )

    def attach(self, runner: Follower, *, policy: str = HALT) -> None:
        """Drive `runner` with the others in its own failure boundary: worker rounds, ``lag``, ``rebuild``.

        `policy` says what happens when an event keeps failing it: ``halt`` (stop there) or ``skip`` (park it, go on).
        """
        self.runners[runner.name] = runner
        if isinstance(runner, LogFollower):
            self.supervisor.follower(runner, kind=runner.kind, policy=policy)
            name, letters = runner.name, self.dead_letters
            runner.skipped = lambda: {x.event_id for x in letters.list(name, status="skipped")}
            runner.park = lambda failed: letters.record(name, failed, failed.error, 1)
        else:
            self.supervisor.watch(runner.name, "follower", runner.run_once, measure=lambda: [runner.lag()])

    def follow(self, name: str, build: Callable[[EventLog], F], *, policy: str = HALT) -> F:
        """Return the follower `name` of the home log, building it with `build` and attaching it the first time."""
        runner = self.runners.get(name)
        if runner is None:
            runner = build(self.platform.log)
            self.attach(runner, policy=policy)
        return cast(F, runner)

    def defer(self, name: str, build: Callable[[], Follower]) -> None:
        """Name a follower that is built only when something drives it (it holds a resource, e.g. a graph file).

        ``lag`` and request paths leave it closed; the worker opens every deferred follower (``open_followers``),
        and ``rebuild NAME`` opens the one it names (``follower``).
        """
        if name not in self.runners:
            self.deferred[name] = build

    def follower(self, name: str) -> Follower | None:
        """Return the follower `name`, building a deferred one now; None when no follower has that name."""
        build = self.deferred.pop(name, None)
        if build is not None:
            self.attach(build())
        return self.runners.get(name)

    def open_followers(self) -> None:
        """Build every deferred follower (what a process that owns them, the worker or ``serve``, does first)."""
        for name in list(self.deferred):
            self.follower(name)

    def service(self, name: str, factory: Callable[[Runtime], Any]) -> Any:
        """Return the service `name`, building it with `factory` the first time."""
        if name not in self.services:
            self.services[name] = factory(self)
        return self.services[name]

    def add_job(self, name: str, job: Callable[[], int]) -> None:
        """Run `job` on every worker round (e.g. activating future-dated data); it returns the work it did."""
        self.jobs[name] = job
        self.supervisor.watch(name, "job", job)

    def on_close(self, closer: Callable[[], None]) -> None:
        """Run `closer` when the runtime closes (in reverse order of registration, before the stores close)."""
        self._closers.append(closer)

    def run_once(self) -> int:
        """One supervised round: relay, followers, bus and jobs, each in its own failure boundary; the work done.

        Everything the round does in the home location goes through the platform pool (:meth:`as_platform`).
        """
        with self.as_platform():
            return self.supervisor.run_once()

    @contextlib.contextmanager
    def as_platform(self) -> Iterator[None]:
        """Run the block as the followers do: units of work in the home location use the platform pool.

        The block is in the platform context too (``core.tenancy.platform``): a store binds no tenant filter to
        it, and ``Scope.platform`` scopes are allowed in it.
        """
        token = _AS_PLATFORM.set(True)
        try:
            with platform_context():
                yield
        finally:
            _AS_PLATFORM.reset(token)

    def statuses(self, *, fresh: bool = False) -> list[FollowerStatus]:
        """Return each follower's and job's state, position and lag (lags reused for a few seconds unless `fresh`)."""
        return self.supervisor.statuses(fresh=fresh)

    def lags(self) -> list[Lag]:
        """Return the lag of the relay and of every follower, measured now."""
        return [
            Lag(s.name, s.position, s.head or 0, s.behind or 0)
            for s in self.statuses(fresh=True)
            if s.position is not None
        ]

    def _bus_lags(self) -> list[Lag]:
        """Each consumer group's place on the Redis stream (``bus:<bus>:<group>``): entries not yet acknowledged."""
        assert isinstance(self.bus, RedisStreamsBus)
        try:
            backlog = self.bus.backlog()
        except BackendUnavailable:  # the bus boundary reports the outage (backing off); health stays up
            return []
        return [Lag(f"bus:{self.bus.name}:{g.group}", g.position, g.head, g.behind) for g in backlog]

    def run_worker(self, stop: threading.Event, *, idle_wait: float = 0.5) -> None:
        """Run the relay, followers and jobs until `stop` is set, sleeping until the log grows when idle."""
        waiter: Waiter | None = None
        try:
            while not stop.is_set():
                try:
                    busy = self.run_once()
                    if not busy:
                        waiter = waiter or waiter_for(self.platform.db)
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
        """Close what the runtime opened, in reverse order: services' resources, the bus, the cache, the stores."""
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:  # closing must reach every store even when one resource fails to let go
                log.exception("closing %r failed", closer)
        self._closers.clear()
        self.bus.close()
        if self._cache is not None:
            self._cache.close()
        with self._lock:
            for location in reversed(list(self._open.values())):
                location.close()
            self._open.clear()
            if self.platform is not self.home:
                self.platform.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
