"""Locations: where facts live (a store, a namespace in it, its event log), and a unit of work in one of them."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from datastrata.core.clock import Clock, system_clock
from datastrata.core.events import Event, NewEvent
from datastrata.core.redact import redact_url
from datastrata.core.tenancy import Namespace
from datastrata.eventlog.archive import LazyObjects
from datastrata.eventlog.log import ANY, AppendResult, EventLog
from datastrata.eventlog.snapshots import SnapshotStore
from datastrata.runtime.scope import Scope
from datastrata.stores.bound import BoundDatabase
from datastrata.stores.database import Cursor, Database, Params, Row, Tx
from datastrata.stores.migrations import Component
from datastrata.stores.open import open_database
from datastrata.tenancy.quota import charge, payload_bytes

if TYPE_CHECKING:
    from datastrata.runtime.tenants import TenantDirectory, TenantPlacement
from datastrata.tenancy.sealing import SubjectSealer


@dataclass(frozen=True, slots=True)
class LocationSpec:
    """A location as a placement names it, before anything is opened: pure data."""

    name: str
    store: str
    graph: str
    objects: str
    #: A dedicated-storage tenant's schema (PostgreSQL) in the shared store; ``None``: the store's own.
    namespace: str | None = None
    #: The role a dedicated-storage tenant's transactions act as (``SET LOCAL ROLE``); ``None``: the connecting role.
    role: str | None = None

    @property
    def shown(self) -> str:
        """The store URL with any secret removed (for health, logs and errors)."""
        return redact_url(self.store)


class Location:
    """An opened location: its database and the event log that lives there (its own total order and identity)."""

    def __init__(self, spec: LocationSpec, db: Database, log: EventLog) -> None:
        self.spec = spec
        self.db = db
        self.log = log
        self.snapshots = SnapshotStore(db, clock=log.clock)
        if log.sealer is None:
            log.sealer = SubjectSealer(db, clock=log.clock)  # personal fields sealed per subject (crypto-shredding)
        if spec.objects and log.objects is None:
            log.objects = LazyObjects(spec.objects, clock=log.clock)  # archived streams' segments are read there

    @classmethod
    def open(
        cls,
        spec: LocationSpec,
        *,
        clock: Clock = system_clock,
        pool: Database | None = None,
        max_size: int | None = None,
    ) -> Location:
        """Open the store `spec` names and its event log: in `pool` (a store's shared connections) if given.

        A location opened in a shared pool, or whose spec names a namespace or role (a dedicated-storage
        tenant's), works through a :class:`BoundDatabase`: every transaction in the tenant's schema as its role.
        Without a pool, the store is opened here with at most `max_size` connections, and closes with the location.
        """
        ns = Namespace(spec.namespace, spec.role)
        if pool is not None:
            db: Database = BoundDatabase(pool, ns)
        else:
            base = open_database(spec.store, max_size=max_size)
            db = base if ns == Namespace() else BoundDatabase(base, ns, owns=True)
        try:
            return cls(spec, db, EventLog(db, clock=clock))
        except BaseException:
            db.close()
            raise

    @classmethod
    def over(cls, db: Database, *, clock: Clock = system_clock, name: str = "local") -> Location:
        """Wrap an already open database as a location of its own (a strategy package used without a runtime)."""
        url = getattr(db, "url", f"{db.dialect}://")
        return cls(LocationSpec(name, str(url), "", ""), db, EventLog(db, clock=clock))

    @property
    def name(self) -> str:
        """The location's name (unique within a runtime)."""
        return self.spec.name

    @property
    def clock(self) -> Clock:
        """The clock this location's log stamps events with."""
        return self.log.clock

    @contextlib.contextmanager
    def transaction(self, scope: Scope) -> Iterator[Work]:
        """Open a write transaction here on behalf of `scope`: all its effects, events included, or none."""
        with self.db.transaction() as tx:
            yield Work(tx, self, scope)

    @contextlib.contextmanager
    def read(self, scope: Scope) -> Iterator[Work]:
        """Open a read snapshot here on behalf of `scope`."""
        with self.db.read() as tx:
            yield Work(tx, self, scope)

    def ensure(self, component: Component, *, context: str | None = None) -> None:
        """Make sure `component`'s migrations are applied in this location (SQLite: now; PostgreSQL: refused if not).

        A location holds every context given to it, so `context` changes nothing here.
        """
        self.db.ensure(component)

    @property
    def identity(self) -> str:
        """The identity of this location's log."""
        return self.log.identity

    def close(self) -> None:
        """Release the location's connections."""
        self.db.close()

    def __repr__(self) -> str:
        return f"Location({self.spec.name!r}, {self.spec.shown!r})"


class Work(Tx):
    """One transaction in one location on behalf of one scope: SQL on the store, appends to the scope's stream."""

    def __init__(self, tx: Tx, location: Location, scope: Scope) -> None:
        super().__init__()
        self.tx = tx
        self.location = location
        self.scope = scope
        self.dialect = tx.dialect
        #: The runtime's tenant directory (set by ``Runtime.transaction``): appends are charged to the tenant's quota.
        self.tenants: TenantDirectory | None = None
        #: The scope's tenant as the directory placed it when the work began (read before the transaction).
        self.placement: TenantPlacement | None = None
        #: Payload bytes appended so far when a load meter counts them (``None``: not counted).
        self.appended_bytes: int | None = None

    @property
    def log(self) -> EventLog:
        """The event log of this work's location."""
        return self.location.log

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        """Run one statement written with ``?`` placeholders."""
        return self.tx.execute(sql, params)

    def queries(self, statements: Sequence[tuple[str, Params]]) -> list[list[Row]]:
        """Run independent queries, in one round trip where the store can; return each one's rows."""
        return self.tx.queries(statements)

    def defer(self, sql: str, params: Params = ()) -> None:
        """Run a write whose result nobody reads, possibly sent with the next statement or the commit."""
        self.tx.defer(sql, params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for each parameter row."""
        self.tx.executemany(sql, rows)

    def defer_many(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one write per parameter row whose results nobody reads, possibly sent with the commit."""
        self.tx.defer_many(sql, rows)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` after the transaction commits (never if it rolls back)."""
        self.tx.on_commit(callback)

    def run_script(self, script: str) -> None:
        """Run a DDL script in the underlying transaction."""
        self.tx.run_script(script)

    def append(
        self, events: Sequence[NewEvent], *, expected_version: int | None = ANY, scope: Scope | None = None
    ) -> AppendResult:
        """Append `events` to the stream of `scope` (default: this work's scope) inside this transaction.

        The stream is ``(tenant, stream id)`` of the target scope, so an append on behalf of another tenant (an
        activation run over every tenant) lands in that tenant's stream.
        """
        target = scope or self.scope
        appended = self.log.append_in(
            self.tx, target.stream_id, events, expected_version=expected_version, tenant=target.tenant
        )
        if self.tenants is not None or self.appended_bytes is not None:
            nbytes = payload_bytes(events)
            if self.appended_bytes is not None:
                self.appended_bytes += nbytes  # a by_shard placement's load meter
            if self.tenants is not None:
                charge(self, nbytes, tenant=target.tenant)  # the tier's quota, in this transaction
        return appended

    def head(self) -> int:
        """Return the head of this location's log as this transaction sees it (a consistency token)."""
        return self.log.head_in(self.tx)

    def stream(
        self,
        scope: Scope | None = None,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Read the stream of `scope` (default: this work's scope) as this transaction sees it."""
        target = scope or self.scope
        return self.log.read_in(
            self.tx,
            target.stream_id,
            from_version=from_version,
            to_version=to_version,
            until=until,
            limit=limit,
            tenant=target.tenant,
        )
