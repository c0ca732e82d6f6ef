"""One commerce service in a process of its own (``commerce up``): its store, its routes, its consumers, its peers.

A :class:`ServiceProcess` opens the ``by_context`` runtime with the full placement (so a scope always lands where
its owner lives) but makes, migrates and relays only its own service's location, and reaches every other service
through its HTTP client, found by the peer's run file. The orchestrator (``sagas``) is a process of its own too:
the saga log at home, the steps over the services' HTTP clients. The bus must be Redis Streams: each service's log
is a stream of its own; a consumer reads a producer's stream by the producer's log identity, which the producer
writes once to ``<folder>/logs/<service>.json`` when it starts (a fact of its store that stays when it stops).

Each process reads the streams as one consumer name per service (``<host>:commerce.<service>``), so a restarted
process takes up what its killed predecessor left pending at once; a reaction that needs a peer which is down
waits for it (the event stays unacknowledged until the peer answers) rather than going to the dead letters.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import socket
import threading
from collections.abc import Collection
from typing import Any

from fastapi import FastAPI

from datastrata.api.contract import InputGuard, UnexpectedErrorGuard
from datastrata.api.problems import install_problems
from datastrata.core.config import Settings
from datastrata.core.errors import BackendUnavailable, NotFound
from datastrata.core.events import Event
from datastrata.messaging.bus import EventHandler, open_bus
from datastrata.runtime import Runtime
from datastrata.runtime.placement import Single
from datastrata.runtime.scope import Scope
from datastrata.services.events import ServiceEvents
from datastrata.services.peers import PeerTransport
from datastrata.services.placement import ByContext, by_context
from datastrata.services.processes import write_atomically
from datastrata.services.provision import provision
from datastrata.services.sagas import MIGRATIONS as SAGA_LOG
from datastrata.services.sagas import Orchestrator
from datastrata.services.sagas.log import CONTEXT as SAGAS
from datastrata.systems.commerce import schema
from datastrata.systems.commerce.api import GROUPS
from datastrata.systems.commerce.catalogue import CatalogueService
from datastrata.systems.commerce.choreography import CONSUMER as CHOREOGRAPHY
from datastrata.systems.commerce.choreography import Choreography
from datastrata.systems.commerce.clients import (
    CatalogueHttp,
    InventoryApi,
    InventoryHttp,
    OrdersApi,
    OrdersHttp,
    PaymentApi,
    PaymentHttp,
    UsersHttp,
)
from datastrata.systems.commerce.domain import (
    CATALOGUE,
    CHOREOGRAPHED,
    INVENTORY,
    NOTIFICATION,
    ORDER_CREATED,
    ORDERS,
    PAYMENT,
    SERVICES,
    TEMPORAL,
    USERS,
    DeclineRule,
)
from datastrata.systems.commerce.inventory import InventoryService
from datastrata.systems.commerce.notification import CONSUMER as NOTIFY
from datastrata.systems.commerce.notification import TYPES as NOTIFIED
from datastrata.systems.commerce.notification import NotificationService
from datastrata.systems.commerce.orders import Order, OrdersService
from datastrata.systems.commerce.payment import PaymentService
from datastrata.systems.commerce.processes import check_redis_bus, log_file, peer, up_folder
from datastrata.systems.commerce.saga import STARTER, OrderSagas, order_saga
from datastrata.systems.commerce.sagashow import saga_timeline
from datastrata.systems.commerce.temporal import STARTER as TEMPORAL_STARTER
from datastrata.systems.commerce.temporal import TemporalOrders, TemporalStarter, target_of
from datastrata.systems.commerce.users import UsersService

log = logging.getLogger(__name__)

#: Seconds a starting process waits for the services whose events it consumes to have started once.
PRODUCERS_WAIT = 120.0
#: Seconds between two rounds of an idle process, and the longest wait between two asks of a peer that is down.
IDLE, PATIENCE = 0.02, 1.0


class Stopping(BaseException):
    """Raised through a bus delivery when the process stops while a peer is down: the event stays unacknowledged."""


class ServiceProcess:
    """What one process of ``commerce up`` opens and runs: service `name` (or ``sagas``), its consumers, its app."""

    def __init__(self, settings: Settings, name: str, *, decline: DeclineRule | None = None) -> None:
        check_redis_bus(settings)
        self.name = name
        self.folder = up_folder(settings)
        consumer = f"{socket.gethostname()}:commerce.{name}"
        self.settings = dataclasses.replace(settings, consumer=settings.consumer or consumer)
        self.placement = by_context(Single.from_settings(self.settings).spec, SERVICES)
        own = ByContext({name: self.placement.services[name]}, self.placement.home) if name in SERVICES else None
        if own is not None:
            provision(self.settings, own, schema.BY_SERVICE)
        self.runtime = Runtime.open(self.settings, placement=self.placement)
        self._own: dict[str, Any] = {}
        #: The consumers this process runs: (consumer, producer, event types, handler).
        self.consumers: list[tuple[str, str, Collection[str], EventHandler]] = []
        self.stop = threading.Event()
        self._temporal: TemporalOrders | None = None
        self._temporal_lock = threading.Lock()
        try:
            self.events = ServiceEvents(self.runtime, own) if own is not None else None
            getattr(self, f"_open_{name}")(decline)
            if own is not None:
                with self.runtime.read(Scope(name)) as work:
                    write_atomically(log_file(self.folder, name), {"service": name, "log": work.log.identity})
        except BaseException:
            self.runtime.close()
            raise

    # ---- what each process opens -----------------------------------------------------------------------------

    def _peer(self, name: str) -> PeerTransport:
        transport = peer(self.folder, name)
        self.runtime.on_close(transport.close)
        return transport

    def _react(self, orders: OrdersApi, inventory: InventoryApi, payment: PaymentApi) -> None:
        """Consume the choreography's reactions this service performs (its own consumer group on each stream)."""
        choreography = Choreography(orders=orders, inventory=inventory, payment=payment)
        mine = tuple(r for r in choreography.reactions if r.name.split(".", 1)[0] == self.name)
        choreography.__dict__["reactions"] = mine  # only this service's (choreography.py types them as all eight)
        for producer in sorted({r.producer for r in mine}):
            types = sorted({r.on for r in mine if r.producer == producer})
            self.consumers.append((f"{CHOREOGRAPHY}.{self.name}", producer, types, choreography.handle))

    def _open_catalogue(self, decline: DeclineRule | None) -> None:
        self._own[CATALOGUE] = CatalogueService(self.runtime)

    def _open_users(self, decline: DeclineRule | None) -> None:
        self._own[USERS] = UsersService(self.runtime)

    def _open_inventory(self, decline: DeclineRule | None) -> None:
        inventory = self._own[INVENTORY] = InventoryService(self.runtime)
        self._react(OrdersHttp(self._peer(ORDERS)), inventory, PaymentHttp(self._peer(PAYMENT)))

    def _open_payment(self, decline: DeclineRule | None) -> None:
        payment = self._own[PAYMENT] = PaymentService(self.runtime, decline=decline)
        self._react(OrdersHttp(self._peer(ORDERS)), InventoryHttp(self._peer(INVENTORY)), payment)

    def _open_orders(self, decline: DeclineRule | None) -> None:
        catalogue, users = CatalogueHttp(self._peer(CATALOGUE)), UsersHttp(self._peer(USERS))
        orders = self._own[ORDERS] = OrdersService(self.runtime, catalogue=catalogue, users=users)
        self._react(orders, InventoryHttp(self._peer(INVENTORY)), PaymentHttp(self._peer(PAYMENT)))

    def _open_notification(self, decline: DeclineRule | None) -> None:
        notification = self._own[NOTIFICATION] = NotificationService(self.runtime)
        self.consumers.append((NOTIFY, ORDERS, NOTIFIED, notification.handle))

    def _open_sagas(self, decline: DeclineRule | None) -> None:
        self.runtime.home.ensure(SAGA_LOG)
        self.orders_client = OrdersHttp(self._peer(ORDERS))
        self._definition = order_saga(
            orders=self.orders_client, inventory=InventoryHttp(self._peer(INVENTORY)),
            payment=PaymentHttp(self._peer(PAYMENT)),
        )  # fmt: skip
        self.sagas = Orchestrator(self.runtime, [self._definition])
        self.sagas.attach(self.runtime)
        self.consumers.append((STARTER, ORDERS, [ORDER_CREATED], OrderSagas(self.sagas).start))
        if self.settings.temporal:
            starter = TemporalStarter(self.temporal)
            self.consumers.append((TEMPORAL_STARTER, ORDERS, [ORDER_CREATED], starter.start))

    def temporal(self) -> TemporalOrders:
        """The order saga's worker on Temporal in the orchestrator's process (started on first use)."""
        with self._temporal_lock:
            if self._temporal is None:
                with self.runtime.read(Scope(SAGAS)) as work:  # the saga log's home: this deployment's id
                    home = work.log.identity
                target = target_of(self.settings)
                self._temporal = TemporalOrders(target, self._definition, prefix=f"{home}:")
            return self._temporal

    # ---- consuming ---------------------------------------------------------------------------------------------

    def connect(self, stop: threading.Event, *, wait: float = PRODUCERS_WAIT) -> bool:
        """Subscribe the consumers to their producers' streams, waiting for each producer to have started once.

        False when `stop` was set while waiting.
        """
        self.stop = stop
        buses: dict[str, Any] = {}
        for consumer, producer, types, handler in self.consumers:
            if producer not in buses:
                log_id = self._producer_log(producer, stop, wait)
                if log_id is None:
                    return False
                bus = open_bus(self.settings.bus, self.runtime.dead_letters, log_id=log_id,
                               consumer=self.settings.consumer)  # fmt: skip
                self.runtime.on_close(bus.close)
                self.runtime.supervisor.watch(f"bus:{bus.name}@{producer}", "bus", bus.poll)
                buses[producer] = bus
            buses[producer].subscribe(consumer, self._patient(handler), types=types)
        return True

    def _producer_log(self, producer: str, stop: threading.Event, wait: float) -> str | None:
        path = log_file(self.folder, producer)
        waited = 0.0
        while not stop.is_set():
            with contextlib.suppress(OSError, ValueError, KeyError):
                return str(json.loads(path.read_text())["log"])
            if waited >= wait:
                raise BackendUnavailable(
                    f"the {producer} service has never started here, so its events have no stream yet; start it "
                    f"(`datastrata commerce up --service {producer}`)"
                )
            stop.wait(0.1)
            waited += 0.1
        return None

    def _patient(self, handler: EventHandler) -> EventHandler:
        """`handler`, waiting for a peer that is down (backing off) instead of failing the delivery."""

        def handle(event: Event) -> None:
            delay = IDLE
            while True:
                try:
                    handler(event)
                    return
                except BackendUnavailable:
                    if self.stop.is_set():
                        raise Stopping() from None
                    self.stop.wait(delay)
                    delay = min(delay * 2, PATIENCE)

        return handle

    def work(self) -> None:
        """Run the process's relay, consumers and jobs until its stop is set."""
        while not self.stop.is_set():
            try:
                if not self.runtime.run_once():
                    self.stop.wait(IDLE)
            except Stopping:
                return
            except Exception:  # a passing store or bus failure: the next round retries
                log.exception("commerce %s: round failed; retrying", self.name)
                self.stop.wait(PATIENCE)

    # ---- what the routes call ----------------------------------------------------------------------------------

    def app(self) -> FastAPI:
        """The FastAPI app of this process: its own group of routes, answering problem+json."""
        app = FastAPI(title=f"datastrata commerce {self.name}", docs_url=None, redoc_url=None, openapi_url=None)
        install_problems(app)
        app.include_router(GROUPS[self.name])
        app.add_middleware(InputGuard)
        app.add_middleware(UnexpectedErrorGuard)
        app.state.commerce = self
        return app

    def _service(self, name: str) -> Any:
        try:
            return self._own[name]
        except KeyError:
            raise NotFound(f"this process serves the {self.name} service, not {name}", field="service") from None

    @property
    def catalogue(self) -> CatalogueService:
        """The catalogue service (its process only)."""
        found: CatalogueService = self._service(CATALOGUE)
        return found

    @property
    def users(self) -> UsersService:
        """The user service (its process only)."""
        found: UsersService = self._service(USERS)
        return found

    @property
    def inventory(self) -> InventoryService:
        """The inventory service (its process only)."""
        found: InventoryService = self._service(INVENTORY)
        return found

    @property
    def payment(self) -> PaymentService:
        """The payment service (its process only)."""
        found: PaymentService = self._service(PAYMENT)
        return found

    @property
    def orders(self) -> OrdersService:
        """The order service (its process only)."""
        found: OrdersService = self._service(ORDERS)
        return found

    @property
    def notification(self) -> NotificationService:
        """The notification service (its process only)."""
        found: NotificationService = self._service(NOTIFICATION)
        return found

    def place(
        self, customer: object, lines: object, *, order_id: object | None = None, saga: object = CHOREOGRAPHED
    ) -> Order:
        """Place an order; ``saga=temporal`` is refused unless the `temporal` setting names a frontend."""
        if saga == TEMPORAL:
            target_of(self.settings)
        return self.orders.place(customer, lines, order_id=order_id, saga=saga)

    def saga_timeline(self, order_id: str, *, as_json: bool = False) -> str:
        """The order saga's timeline: from the saga log, or from Temporal for a Temporal order."""
        if self.name != SAGAS:
            raise NotFound(f"this process serves the {self.name} service; the sagas process shows sagas")
        return saga_timeline(self.runtime, self.orders_client, order_id, self.temporal, as_json=as_json)

    def close(self) -> None:
        """Stop the orchestrator and the Temporal worker, and close the runtime."""
        self.stop.set()
        try:
            if self._temporal is not None:
                self._temporal.close()
        finally:
            self.runtime.close()
