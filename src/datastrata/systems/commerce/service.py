"""The commerce system in one process: six services, each in its own location of a ``by_context`` runtime.

:class:`CommerceService` opens that runtime beside the caller's (same settings, same tenants): the catalogue,
users, inventory, payment, orders and notification services each get their own SQLite file, or their own
PostgreSQL schema reached as their own role, made and migrated on first use with that service's tables only. Each
service's log is its outbox, relayed to the bus by its own relay; the notification service consumes from it.
The services call each other through their clients: in-process by default, over HTTP with `peers`.
"""

from __future__ import annotations

import threading
from typing import Any

from datastrata.core.config import Settings
from datastrata.core.errors import ConfigurationError
from datastrata.runtime import Runtime
from datastrata.runtime.migrations import LocationMigrations
from datastrata.runtime.placement import Single
from datastrata.runtime.rounds import settle
from datastrata.runtime.scope import Scope
from datastrata.services.client import HttpTransport
from datastrata.services.events import ServiceEvents
from datastrata.services.placement import ByContext, by_context
from datastrata.services.provision import SERVICE_SPINE, provision
from datastrata.services.sagas import MIGRATIONS as SAGAS
from datastrata.services.sagas import Orchestrator
from datastrata.services.sagas.log import CONTEXT as SAGAS_CONTEXT
from datastrata.stores.migrations import pending
from datastrata.systems.commerce import schema
from datastrata.systems.commerce.catalogue import CatalogueService
from datastrata.systems.commerce.choreography import Choreography
from datastrata.systems.commerce.clients import CatalogueApi, CatalogueHttp, UsersApi, UsersHttp
from datastrata.systems.commerce.domain import MANUAL, ORDER_CREATED, ORDERS, SERVICES, TEMPORAL, DeclineRule
from datastrata.systems.commerce.inventory import InventoryService
from datastrata.systems.commerce.notification import CONSUMER, TYPES, NotificationService
from datastrata.systems.commerce.orders import Order, OrdersService
from datastrata.systems.commerce.payment import PaymentService
from datastrata.systems.commerce.saga import STARTER, OrderSagas, order_saga
from datastrata.systems.commerce.sagashow import saga_timeline
from datastrata.systems.commerce.temporal import STARTER as TEMPORAL_STARTER
from datastrata.systems.commerce.temporal import TemporalOrders, TemporalStarter, target_of
from datastrata.systems.commerce.users import UsersService

#: The name the service is registered under on a runtime.
SERVICE = "commerce"
#: Rounds :meth:`CommerceService.settle` runs at most.
MAX_SETTLE_ROUNDS = 1000


def placement_of(runtime: Runtime) -> ByContext:
    """The commerce services' placement beside `runtime`'s home location."""
    return by_context(runtime.home.spec, SERVICES)


class CommerceService:
    """The six services on their own stores, their relays and consumers, and one round to drive them."""

    def __init__(self, runtime: Runtime, *, decline: DeclineRule | None = None, peers: HttpTransport | None = None):
        self.placement = placement_of(runtime)
        provision(runtime.settings, self.placement, schema.BY_SERVICE)  # once; again: nothing pending
        #: The services' own runtime: each context in its own location, the spine's state at home.
        self.runtime = Runtime.open(
            runtime.settings, placement=self.placement, tenants=runtime.tenants, clock=runtime.clock
        )
        try:
            self.events = ServiceEvents(self.runtime, self.placement)
            self.catalogue = CatalogueService(self.runtime)
            self.users = UsersService(self.runtime)
            self.inventory = InventoryService(self.runtime)
            self.payment = PaymentService(self.runtime, decline=decline)
            catalogue: CatalogueApi = self.catalogue if peers is None else CatalogueHttp(peers)
            users: UsersApi = self.users if peers is None else UsersHttp(peers)
            self.orders = OrdersService(self.runtime, catalogue=catalogue, users=users)
            self.notification = NotificationService(self.runtime)
            self.events.subscribe(CONSUMER, self.notification.handle, types=TYPES, producers=[ORDERS])
            self.choreography = Choreography(orders=self.orders, inventory=self.inventory, payment=self.payment)
            self.choreography.attach(self.events)
            definition = order_saga(orders=self.orders, inventory=self.inventory, payment=self.payment)
            #: The order saga's orchestrator: its log at home, its job (``sagas.resume``) in the services' rounds.
            self.sagas = Orchestrator(self.runtime, [definition])
            self.sagas.attach(self.runtime)
            self.order_sagas = OrderSagas(self.sagas)
            self.events.subscribe(STARTER, self.order_sagas.start, types=[ORDER_CREATED], producers=[ORDERS])
            #: The same saga on Temporal (``saga=temporal``), hosted here once first used; needs the `temporal` setting.
            self._definition = definition
            self._temporal: TemporalOrders | None = None
            self._temporal_lock = threading.Lock()
            if runtime.settings.temporal:
                starter = TemporalStarter(self.temporal)
                self.events.subscribe(TEMPORAL_STARTER, starter.start, types=[ORDER_CREATED], producers=[ORDERS])
        except BaseException:
            self.runtime.close()
            raise
        runtime.on_close(self.close)

    def temporal(self) -> TemporalOrders:
        """The order saga's worker on Temporal in this process (started on first use; the `temporal` setting's)."""
        with self._temporal_lock:
            if self._temporal is None:
                target = target_of(self.runtime.settings)
                with self.runtime.read(Scope(SAGAS_CONTEXT)) as work:  # the saga log's home: this deployment's id
                    home = work.log.identity
                self._temporal = TemporalOrders(target, self._definition, prefix=f"{home}:")
            return self._temporal

    def place(self, customer: object, lines: object, *, order_id: object | None = None, saga: object = MANUAL) -> Order:
        """Place an order (see :meth:`OrdersService.place`); ``saga=temporal`` is refused unless Temporal answers."""
        if saga == TEMPORAL:
            self.temporal()
        return self.orders.place(customer, lines, order_id=order_id, saga=saga)

    def saga_timeline(self, order_id: str, *, as_json: bool = False) -> str:
        """What ``commerce saga show ORDER`` prints: the order saga's state and every call (saga log or Temporal)."""
        return saga_timeline(self.runtime, self.orders, order_id, self.temporal, as_json=as_json)

    def run_once(self) -> int:
        """One supervised round of the services' runtime: every service's relay, the consumers, the jobs."""
        return self.runtime.run_once()

    def settle(self, *, max_rounds: int = MAX_SETTLE_ROUNDS) -> int:
        """Run rounds until no service has anything left to relay or consume; the work done."""
        return settle(self.run_once, max_rounds=max_rounds)

    def status(self) -> dict[str, Any]:
        """Each service's location and its relay's state (the store URLs without secrets)."""
        statuses = self.runtime.statuses(fresh=True)
        services = [
            {
                "service": name,
                "store": spec.shown,
                "schema": spec.namespace,
                "role": spec.role,
                "relay": [s.to_dict() for s in statuses if s.name.startswith(f"relay@{name}")],
            }
            for name, spec in self.placement.services.items()
        ]
        return {"services": services, "pending": self.events.pending()}

    def close(self) -> None:
        """Stop the orchestrator's calls and the Temporal worker, and close the services' runtime."""
        try:
            self.sagas.close()
            if self._temporal is not None:
                self._temporal.close()
        finally:
            self.runtime.close()


def install(runtime: Runtime) -> None:
    """Let the worker drive the services' relays and consumers once open (on first use); ready when migrated."""

    def services() -> int:
        opened = runtime.services.get(SERVICE)
        return opened.run_once() if isinstance(opened, CommerceService) else 0

    runtime.home.ensure(SAGAS)  # the order saga's log, at home like every system's (SQLite: now; PostgreSQL: migrate)
    runtime.add_job("commerce.services", services)
    runtime.readiness["commerce.migrations"] = lambda: require_migrated(runtime)


def migrate_services(settings: Settings, dry_run: bool) -> list[LocationMigrations]:
    """Migrate every commerce service's store made so far with its own components (``datastrata migrate``).

    A service's store is made on the first use of the commerce services (its PostgreSQL role needs a role that may
    create roles), not by ``migrate``, so a deployment that never uses them gets no schemas and roles of theirs.
    """
    placement = by_context(Single.from_settings(settings).spec, SERVICES)
    return provision(settings, placement, schema.BY_SERVICE, dry_run=dry_run, made_only=True)


def require_migrated(runtime: Runtime) -> None:
    """Raise unless each service's store, once this process opened the services, has its migrations applied.

    One query per service over the pools already open (a readiness probe opens no connection); a process that has
    not used the services yet has nothing of theirs to be ready for.
    """
    opened = runtime.services.get(SERVICE)
    if not isinstance(opened, CommerceService):
        return
    for name, spec in opened.placement.services.items():
        todo = pending(opened.runtime.location(spec).db, [*SERVICE_SPINE, *schema.BY_SERVICE[name]])
        if todo:
            raise ConfigurationError(
                f"{len(todo)} migration(s) are not applied in service {name}'s store, the first is {todo[0].label}; "
                "run `datastrata migrate`"
            )
