"""The runtime: opens the locations a placement names, hands out scoped transactions and drives the followers."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar, cast

from datastrata.core.clock import Clock, system_clock
from datastrata.core.config import Settings
from datastrata.core.errors import BackendUnavailable, ConfigurationError, NotFound
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
from datastrata.runtime import fences
from datastrata.runtime.jobs import MIGRATIONS as JOBS
from datastrata.runtime.location import Location, LocationSpec, Work
from datastrata.runtime.moves import MIGRATIONS as MOVES
from datastrata.runtime.placement import ByTenant, Placement, Single, holding
from datastrata.runtime.scope import Scope
from datastrata.runtime.shardfences import MIGRATIONS as SHARD_FENCES
from datastrata.runtime.supervisor import HALT, FollowerStatus, Supervisor
from datastrata.runtime.tenants import MIGRATIONS as TENANCY
from datastrata.runtime.tenants import (
    SingleTenant,
    StoredDirectory,
    TenantDirectory,
    TenantPlacement,
    refuse_offboarded,
    require_tenant,
)
from datastrata.sharding import gate as shard_gate
from datastrata.sharding.catalog_schema import MIGRATIONS as SHARD_CATALOG
from datastrata.sharding.load import LoadMeter
from datastrata.sharding.loadstore import MIGRATIONS as SHARD_LOAD
from datastrata.sharding.loadstore import meter_runtime
from datastrata.sharding.maps import MIGRATIONS as SHARD_MAPS
from datastrata.stores.cache import Cache, open_cache
from datastrata.stores.database import Database
from datastrata.stores.migrations import Component
from datastrata.stores.open import open_database
from datastrata.tenancy.quota import payload_bytes
from datastrata.tiering.schema import ICEBERG_CATALOG
from datastrata.tiering.schema import MIGRATIONS as TIERING
from datastrata.tiering.schema import RESTORES as TIERING_RESTORES
from datastrata.writes.idempotency import SWEEP_JOB, Sweeper

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Follower)

#: The components every location holds, whatever else it is migrated with: the tenant's usage and its move fence.
EVERY_LOCATION: tuple[Component, ...] = (TENANCY, MOVES, SHARD_FENCES)
#: How many locations a runtime keeps open at once by default (the least recently used unpinned one closes).
MAX_OPEN = 32
#: The PostgreSQL connections a runtime holds over all its pools unless ``DATASTRATA_MAX_CONNECTIONS`` says otherwise.
MAX_CONNECTIONS = 64
#: The most connections one silo's pool gets (fewer when the cap is split over many silos).
SILO_POOL_MAX = 4
#: Seconds a write of a moving tenant waits for a move's fence to lift before it is refused as unavailable.
FENCE_WAIT = 60.0
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
        #: The base pool of each open store URL (bridge locations share the home pool; a silo owns its own).
        self._pools: dict[str, Database] = {home.spec.store: home.db}
        #: Location name -> the store URL of the pool it owns (closed with it).
        self._owned: dict[str, str] = {}
        #: What the followers of each location are built from: name -> (build, policy), for `follow_location`.
        self._builds: dict[str, tuple[Callable[[EventLog], Follower], str]] = {}
        self._turn = 0  # where the next round of tenant locations' turns starts
        self._following: set[str] = set()  # the tenant locations whose followers are attached
        self.max_connections = _connection_cap(settings)
        self._lock = threading.RLock()
        self._closers: list[Callable[[], None]] = []
        self.add_job(SWEEP_JOB, Sweeper(self, clock=clock))  # idempotency keys past their retention
        #: A by_shard placement's load meter: counted on the request paths, flushed to the home store by a job.
        self.meter: LoadMeter | None = getattr(placement, "meter", None)
        if self.meter is not None:
            meter_runtime(self)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        placement: Placement | None = None,
        max_open: int = MAX_OPEN,
        tenants: TenantDirectory | None = None,
    ) -> Runtime:
        """Open the home location of `placement` and the bus.

        The default placement is by tenant: each tenant of `tenants` (default: ``default`` alone) with a location of
        its own (dedicated storage or infrastructure) lives there, every other scope in the home store of `settings`.
        """
        spec = placement.all()[0] if placement is not None else Single.from_settings(settings).spec
        home = Location.open(spec, clock=clock)
        platform: Location | None = None
        try:
            if settings.direct_store:
                home.db.direct_url = settings.direct_store  # behind a pooler: where LISTEN reaches the server
            if settings.platform_store and settings.platform_store != spec.store:
                platform = Location.open(replace(spec, store=settings.platform_store), clock=clock)
            followers = platform or home
            dead_letters = DeadLetters(followers.db, clock=clock)
            followers.db.ensure(JOBS)  # job records (rebuilds) live in the home store
            followers.db.ensure(TIERING)  # and the tiering move audit
            followers.db.ensure(ICEBERG_CATALOG)  # with the Iceberg catalog its cold parts may be registered in
            followers.db.ensure(TIERING_RESTORES)  # and its restore requests
            followers.db.ensure(MOVES)  # the move journal, and the fences every location has
            followers.db.ensure(SHARD_MAPS)  # the shard maps a by_shard placement reads
            followers.db.ensure(SHARD_LOAD)  # and the load its runtimes flush
            followers.db.ensure(SHARD_CATALOG)  # and the stores of their shards
            followers.db.ensure(SHARD_FENCES)  # the range fences, and the reshard plans
            tenants = tenants or StoredDirectory(followers.db)  # and the tenant catalogue
            placement = placement or ByTenant(tenants, spec)  # each tenant where the catalogue places it
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
            opened = self._open_location(spec)
            for component in EVERY_LOCATION:  # what a tenant's writes touch wherever it lives (quota, fence)
                opened.db.ensure(component)
            _ = opened.log.identity  # read now: inside a unit of work a silo pool of one connection has none spare
            self._open[spec.name] = opened
            self._evict()
            return opened

    def _crowds_out(self, spec: LocationSpec, protected: list[str]) -> bool:
        """True when opening `spec` needs a pool that fits only by closing a location this round just opened."""
        if spec.name in self._open or spec.store in self._pools or not _is_postgres(spec.store):
            return False
        if spec.namespace is not None or spec.role is not None:
            return False
        if self.connections() + self._silo_pool_size() + 1 <= self.max_connections:
            return False
        idle = [n for n in self._open if n in self._owned and n not in self._pinned and not self._in_use[n]]
        return all(n in protected for n in idle)

    def _open_location(self, spec: LocationSpec) -> Location:
        """Open `spec` in the pool of its store: shared when a bound location's store is open, else its own."""
        shared = self._pools.get(spec.store)
        if shared is not None:
            return Location.open(spec, clock=self.clock, pool=shared)
        if spec.namespace is not None or spec.role is not None:  # a bridge of a store no location opened yet
            self._pools[spec.store] = shared = self._open_pool(spec.store)
            return Location.open(spec, clock=self.clock, pool=shared)
        size = self._silo_pool_size() if _is_postgres(spec.store) else None
        if size is not None:
            self._make_room(size)
        opened = Location.open(spec, clock=self.clock, max_size=size)
        self._pools[spec.store] = opened.db
        self._owned[spec.name] = spec.store
        return opened

    def _open_pool(self, store: str) -> Database:
        size = self._silo_pool_size() if _is_postgres(store) else None
        if size is not None:
            self._make_room(size)
        return open_database(store, max_size=size)

    def _silo_pool_size(self) -> int:
        """The connections of one silo pool: the cap left after the home pools, split over every silo, at most 4."""
        silos = [s for s in self.placement.all()[1:] if s.store not in self._shared_stores() and _is_postgres(s.store)]
        left = self.max_connections - self._home_connections()
        return max(1, min(SILO_POOL_MAX, left // max(1, len(silos)) - 1))

    def _shared_stores(self) -> set[str]:
        return {url for url, db in self._pools.items() if url not in self._owned.values()}

    def _home_connections(self) -> int:
        pools = [self.home.db] if self.platform is self.home else [self.home.db, self.platform.db]
        return sum(_budget(db) for db in pools)

    def connections(self) -> int:
        """The most PostgreSQL connections this runtime's open pools may hold (each pool's size, plus its notifier)."""
        with self._lock:
            platform = [] if self.platform is self.home else [self.platform.db]
            return sum(_budget(db) for db in [*self._pools.values(), *platform])

    def _make_room(self, size: int) -> None:
        """Close idle silo locations (least recently used first) until a pool of `size` fits under the cap."""
        while self.connections() + size + 1 > self.max_connections:
            idle = [n for n in self._open if n in self._owned and n not in self._pinned and not self._in_use[n]]
            if not idle:
                raise BackendUnavailable(
                    f"the connection cap of {self.max_connections} (DATASTRATA_MAX_CONNECTIONS) is reached and every "
                    "open silo location is in use; raise the cap or let fewer silos work at once"
                )
            self._close_location(idle[0])

    def _close_location(self, name: str) -> None:
        self._following.discard(name)
        for runner in [r for r in self.runners if r.endswith(f"@{name}")]:  # its followers take their next turn
            del self.runners[runner]
            self.supervisor.boundaries.pop(runner, None)
        self._open.pop(name).close()
        store = self._owned.pop(name, None)
        if store is not None:
            self._pools.pop(store, None)

    def forget(self, name: str) -> None:
        """Close the location `name` if open and drop its followers (``…@name``): its tenant was moved or destroyed."""
        with self._lock:
            for runner in [r for r in self.runners if r.endswith(f"@{name}")]:
                del self.runners[runner]
                self.supervisor.boundaries.pop(runner, None)
            self._pinned.discard(name)
            self._following.discard(name)
            if name in self._open and name != self.home.name:
                self._close_location(name)

    def pin(self, location: Location) -> None:
        """Keep `location` open for the runtime's life (a location whose followers this process drives)."""
        with self._lock:
            self._pinned.add(location.name)

    def _evict(self) -> None:
        for name in list(self._open):
            if len(self._open) <= self.max_open:
                return
            if name not in self._pinned and not self._in_use[name]:
                self._close_location(name)

    @contextlib.contextmanager
    def _using(self, scope: Scope) -> Iterator[Location]:
        """Pin the location of `scope` while a unit of work runs in it, on behalf of the scope's tenant."""
        require_tenant(scope, self.tenants)
        with self._lock:
            location = self.locate(scope)
            self._in_use[location.name] += 1
        if self.tenants.multi_tenant():  # SQLite's stand-in for row-level security, from the second tenant on
            location.db.guard_tenants()
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
        """Open a write transaction in the location of `scope`: all its effects, events included, or none.

        A moving tenant's transaction first reads the tenant's fence in itself, and waits while a move holds it
        (:mod:`datastrata.runtime.fences`); nobody else's transactions read it.
        """
        stack, work = self._admitted(scope)
        with stack:
            if self.meter is not None:
                work.appended_bytes = 0
            yield work
            if self.meter is not None:
                self.meter.wrote(work.location.name, scope, work.appended_bytes or 0)

    def _admitted(self, scope: Scope) -> tuple[contextlib.ExitStack[bool | None], Work]:
        """Open `scope`'s write transaction once no move's fence holds its tenant (re-placed after a switch)."""
        deadline, rerouted = time.monotonic() + FENCE_WAIT, 0
        while True:
            # Asked before the location is chosen (and before the transaction holds a connection): a tenant seen
            # moving reads its fence wherever it is placed.
            charged = self._charged(scope)
            moving = charged is not None and charged.state == "moving"
            if charged is not None and charged.state in ("offboarding", "offboarded"):
                refuse_offboarded(charged)
            stack = contextlib.ExitStack()
            try:
                location = stack.enter_context(self._using(scope))
                work = stack.enter_context(location.transaction(scope))
                if charged is not None:  # its appends are charged to the tenant's quota
                    work.tenants, work.placement = self.tenants, charged
                state = fences.state_in(work, scope.tenant) if moving else None
                state = state or shard_gate.fence_in(work, self.placement, scope, location.name)  # a reshard's
            except BaseException:
                stack.close()
                raise
            if state not in (fences.FENCED, fences.MOVED):
                return stack, work
            stack.close()  # nothing was done in it
            if state == fences.MOVED:
                self.tenants.invalidate()  # the tenant (or the key's range) lives elsewhere now: ask again
                rerouted += 1
                if rerouted > shard_gate.STALE_RETRIES:
                    raise shard_gate.stale(scope, rerouted)
            elif time.monotonic() > deadline:
                raise BackendUnavailable(
                    f"tenant {scope.tenant} is being moved and its writes stay fenced after {FENCE_WAIT:g}s; "
                    f"see `datastrata tenants move-status {scope.tenant}`"
                )
            else:
                time.sleep(fences.POLL)

    def _charged(self, scope: Scope) -> TenantPlacement | None:
        """The catalogued placement of `scope`'s tenant when the store holds several tenants (else None)."""
        if scope.all_tenants or not self.tenants.multi_tenant():
            return None
        try:
            return self.tenants.placement(scope.tenant)
        except NotFound:  # a tenant the directory does not hold is the placement's to refuse
            return None

    @contextlib.contextmanager
    def read(self, scope: Scope) -> Iterator[Work]:
        """Open a read snapshot in the location of `scope`."""
        with self._using(scope) as location, location.read(scope) as work:
            if self.meter is not None:
                self.meter.read(location.name, scope)
            yield work

    def ensure(self, component: Component, *, context: str | None = None) -> None:
        """Make sure `component`'s migrations are applied in every location the placement names (opened if need be).

        With `context`, only where that context's scopes can live (a ``by_context`` runtime: that one location).
        """
        for spec in self.placement.all() if context is None else holding(self.placement, context):
            self.location(spec).ensure(component)

    def append(self, scope: Scope, events: Sequence[NewEvent], *, expected_version: int | None = ANY) -> AppendResult:
        """Append `events` to the stream of `scope` as one transaction of its own."""
        if self.tenants.multi_tenant() or shard_gate.gated(self.placement, scope):  # quota, fences
            with self.transaction(scope) as work:
                return work.append(events, expected_version=expected_version)
        with self._using(scope) as location:
            appended = location.log.append(scope.stream_id, events, expected_version=expected_version)
        if self.meter is not None:
            self.meter.wrote(location.name, scope, payload_bytes(events))
        return appended

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

    def attach(self, runner: Follower, *, policy: str = HALT, name: str | None = None) -> None:
        """Drive `runner` with the others in its own failure boundary: worker rounds, ``lag``, ``rebuild``.

        `policy` says what happens when an event keeps failing it: ``halt`` (stop there) or ``skip`` (park it, go on).
        `name` (default: the runner's) is what the runtime, the supervisor and the dead letters know it by.
        """
        name = name or runner.name
        self.runners[name] = runner
        if isinstance(runner, LogFollower):
            self.supervisor.follower(runner, kind=runner.kind, policy=policy, name=name)
            letters = self.dead_letters
            runner.skipped = lambda: {x.event_id for x in letters.list(name, status="skipped")}
            runner.park = lambda failed: letters.record(name, failed, failed.error, 1)
        else:
            self.supervisor.watch(name, "follower", runner.run_once, measure=lambda: [runner.lag()])

    def follow(self, name: str, build: Callable[[EventLog], F], *, policy: str = HALT) -> F:
        """Return the follower `name` of the home log, building it with `build` and attaching it the first time."""
        runner = self.runners.get(name)
        if runner is None:
            runner = build(self.platform.log)
            self.attach(runner, policy=policy)
            self._builds[name] = (build, policy)
        return cast(F, runner)

    def location_of(self, log: EventLog) -> Location:
        """Return the opened location whose event log `log` is (the home one for the platform's view of it)."""
        if log is self.platform.log or log is self.home.log:
            return self.home
        with self._lock:
            found = next((opened for opened in self._open.values() if opened.log is log), None)
        if found is None:
            raise NotFound(f"no opened location holds the log {log.identity}", field="log")
        return found

    def runner_for(self, name: str, scope: Scope) -> Follower:
        """Return the follower `name` of the log `scope` lives in: the home one, or a tenant location's ``name@…``.

        A read model of a tenant in dedicated storage or infrastructure is built from that location's own log, so a
        read that catches up or waits for a token does so on that follower (built on first use).
        """
        runner = self.runners[name]
        spec = self.placement.locate(scope)
        if spec.name == self.home.name:
            return runner
        location = self.location(spec)
        self.follow_location(location)
        return self.runners.get(f"{name}@{location.name}", runner)

    def follow_location(self, location: Location) -> list[str]:
        """Build every follower of the home log for `location`'s own log too, named ``name@location``; their names.

        A tenant's location (dedicated storage or infrastructure) has its own log, so its read models need their
        own followers. One in a shared pool (a bridge) or a file stays open (pinned) while the runtime drives them;
        a silo with a pool of its own is not pinned: when the connection cap closes it, its followers go with it
        and come back on its next turn (:meth:`run_once`).
        """
        if location is self.home or location is self.platform:
            return []
        made: list[str] = []
        for name, (build, policy) in list(self._builds.items()):
            located = f"{name}@{location.name}"
            if located not in self.runners:
                self.attach(build(location.log), policy=policy, name=located)
                made.append(located)
        if not (location.name in self._owned and _is_postgres(location.spec.store)):
            self.pin(location)
        self._following.add(location.name)
        return made

    def take_turns(self) -> int:
        """Give the tenant locations whose followers are not running their turn, starting after the last one served.

        Opens each such location (a silo may close the least recently used idle one to stay under the connection
        cap) and builds its followers; stops when the cap leaves no room. Returns how many locations it opened.
        """
        if not self._builds:
            return 0
        specs = self.placement.all()[1:]
        if not specs:
            return 0
        opened: list[str] = []
        start = self._turn % len(specs)
        for spec in specs[start:] + specs[:start]:
            if not (spec.name in self._following and spec.name in self._open):
                if self._crowds_out(spec, opened):
                    break  # the next round starts here
                try:
                    self.follow_location(self.location(spec))
                except BackendUnavailable:  # every open silo is busy: the rest wait for a later round
                    break
                opened.append(spec.name)
            self._turn += 1
        return len(opened)

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
        """Build every deferred follower, then the followers of each tenant location, one location after another.

        What a process that owns the followers (the worker or ``serve``) does first.
        """
        for name in list(self.deferred):
            self.follower(name)
        self.take_turns()

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
            self.take_turns()  # not counted as work: silos past the cap take turns forever
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
            for store, pool in list(self._pools.items()):
                if pool is not self.home.db and store not in self._owned.values():
                    pool.close()  # a shared pool no location owns
            self._pools.clear()
            self._owned.clear()
            if self.platform is not self.home:
                self.platform.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_postgres(url: str) -> bool:
    return url.split(":", 1)[0].split("+")[0] in ("postgresql", "postgres")


def _budget(db: Database) -> int:
    """The connections a PostgreSQL pool may hold: its size, plus the announcer's own (0 for SQLite)."""
    pool = getattr(db, "pool", None)
    return int(pool.max_size) + 1 if db.dialect == "postgresql" and pool is not None else 0


def _connection_cap(settings: Settings) -> int:
    """The connection cap of `settings` (``DATASTRATA_MAX_CONNECTIONS``), refusing a value that is not a count."""
    raw = settings.max_connections.strip()
    if not raw:
        return MAX_CONNECTIONS
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(
            f"max_connections must be a whole number of connections of at least 1; got {raw!r} "
            "(set DATASTRATA_MAX_CONNECTIONS=64, say)",
            field="max_connections",
        )
    return int(raw)
