"""HTTP routes of the commerce services, one group per service under ``/commerce/<service>/…``.

Each group is the service's own API: the typed HTTP clients (:mod:`datastrata.systems.commerce.clients`) call it,
and other services reach the service's data only through it or its events. :data:`router` holds every group (the
``serve`` app, all services in one process); ``commerce up`` serves each group alone in its service's own process
(:data:`GROUPS`), where the app's ``state.commerce`` is that process's services.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Protocol, cast

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from datastrata.api.contract import problems
from datastrata.api.idempotency import KeyHeader
from datastrata.services.sagas.log import CONTEXT as SAGAS
from datastrata.systems.commerce.catalogue import MAX_RESULTS, CatalogueService
from datastrata.systems.commerce.domain import (
    CATALOGUE,
    DESCRIPTION_MAX,
    ID_PATTERN,
    INVENTORY,
    MAX_LINES,
    MAX_QUANTITY,
    MAX_STOCK,
    MONEY_DIGITS,
    NAME_MAX,
    NOTIFICATION,
    ORDERS,
    PAYMENT,
    QUERY_MAX,
    USERS,
    check_id,
)
from datastrata.systems.commerce.inventory import InventoryService
from datastrata.systems.commerce.notification import NotificationService
from datastrata.systems.commerce.orders import REASON_MAX, Order, OrdersService
from datastrata.systems.commerce.payment import PaymentService
from datastrata.systems.commerce.service import SERVICE, CommerceService
from datastrata.systems.commerce.users import UsersService

#: Each service's own routes (and the order saga's, served by the orchestrator), by the process that serves them.
GROUPS: dict[str, APIRouter] = {
    name: APIRouter(prefix="/commerce", tags=["commerce"])
    for name in (CATALOGUE, USERS, INVENTORY, PAYMENT, ORDERS, NOTIFICATION, SAGAS)
}
catalogue_routes, users_routes, inventory_routes = GROUPS[CATALOGUE], GROUPS[USERS], GROUPS[INVENTORY]
payment_routes, orders_routes, notification_routes = GROUPS[PAYMENT], GROUPS[ORDERS], GROUPS[NOTIFICATION]
sagas_routes = GROUPS[SAGAS]

Id = Annotated[str, Field(pattern=ID_PATTERN, description="An id: 1-64 letters, digits, '_', '.', ':' or '-'")]
IdPath = Annotated[str, Path(pattern=ID_PATTERN, description="An id, e.g. sku-1 or o-1")]
Money = Annotated[str, Field(min_length=1, max_length=MONEY_DIGITS + 3, description="A decimal as text: 59.90")]


class Services(Protocol):
    """What the routes call: every service in one process (:class:`CommerceService`), or one process's own."""

    @property
    def catalogue(self) -> CatalogueService:
        """The catalogue service."""

    @property
    def users(self) -> UsersService:
        """The user service."""

    @property
    def inventory(self) -> InventoryService:
        """The inventory service."""

    @property
    def payment(self) -> PaymentService:
        """The payment service."""

    @property
    def orders(self) -> OrdersService:
        """The order service."""

    @property
    def notification(self) -> NotificationService:
        """The notification service."""

    def place(self, customer: object, lines: object, *, order_id: object | None = None, saga: object = ...) -> Order:
        """Place an order."""

    def saga_timeline(self, order_id: str, *, as_json: bool = False) -> str:
        """An order saga's timeline."""


def _svc(request: Request) -> Services:
    own = getattr(request.app.state, "commerce", None)
    if own is not None:
        return cast(Services, own)
    return cast(CommerceService, request.app.state.runtime.service(SERVICE, CommerceService))


class ProductIn(BaseModel):
    """A product to add (or change, same SKU)."""

    sku: Id
    name: str = Field(min_length=1, max_length=NAME_MAX)
    price: Money
    description: str = Field(default="", max_length=DESCRIPTION_MAX)


class ProductOut(BaseModel):
    """A product of the catalogue."""

    sku: str
    name: str
    description: str
    price: str


class UserIn(BaseModel):
    """A customer to register."""

    user_id: Id
    name: str = Field(min_length=1, max_length=NAME_MAX)


class UserOut(BaseModel):
    """A registered customer."""

    user_id: str
    name: str


class StockIn(BaseModel):
    """A SKU's stock on hand."""

    on_hand: int = Field(strict=True, ge=0, le=MAX_STOCK)


class StockOut(BaseModel):
    """A SKU's stock: on hand, reserved for orders not yet confirmed or released, available to sell."""

    sku: str
    on_hand: int
    reserved: int
    available: int


class LineIn(BaseModel):
    """An order line."""

    sku: Id
    quantity: int = Field(strict=True, ge=1, le=MAX_QUANTITY)


class LineOut(BaseModel):
    """An order line."""

    sku: str
    quantity: int


class ReservationIn(BaseModel):
    """Stock to hold for an order: every line, or none."""

    order_id: Id
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)


class ReservationOut(BaseModel):
    """An order's reservation: RESERVED, FAILED (with the reason), CONFIRMED, RELEASED or NONE."""

    order_id: str
    state: str
    lines: list[LineOut]
    reason: str | None


class ChargeIn(BaseModel):
    """A charge for an order."""

    order_id: Id
    customer: Id
    amount: Money


class RefundIn(BaseModel):
    """A refund of an order's charge."""

    order_id: Id


class PaymentOut(BaseModel):
    """A charge: CHARGED, DECLINED (with the reason) or REFUNDED."""

    payment_id: str
    order_id: str
    customer: str
    amount: str
    state: str
    reason: str | None


class OrderIn(BaseModel):
    """An order to place: saved PENDING, OrderCreated recorded."""

    customer: Id
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)
    order_id: Id | None = Field(default=None, description="The order's id (its idempotency key); omit for a new one")
    saga: Literal["choreographed", "orchestrated", "temporal", "manual"] = Field(
        default="choreographed",
        description="How it is carried on: services reacting to events, the saga, the saga on Temporal, or nobody",
    )


class PricedLineOut(BaseModel):
    """An order line at the catalogue's price when it was placed."""

    sku: str
    quantity: int
    price: str


class OrderOut(BaseModel):
    """An order's document."""

    order_id: str
    customer: str
    status: str
    lines: list[PricedLineOut]
    total: str
    version: int
    reason: str | None
    saga: str


class CancelIn(BaseModel):
    """Why an order is cancelled."""

    reason: str = Field(default="cancelled", min_length=1, max_length=REASON_MAX)


class NotificationOut(BaseModel):
    """A message sent about an order."""

    notification_id: str
    order_id: str
    kind: str
    message: str


# ---- catalogue ---------------------------------------------------------------------------------------------------


@catalogue_routes.post("/catalogue/products", status_code=201, responses=problems(409), response_model=ProductOut)
def post_product(body: ProductIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Add a product, or change one (same SKU); searchable at once."""
    product = _svc(request).catalogue.add(
        body.sku, body.name, body.price, description=body.description, key=key.with_body(None)
    )
    return product.to_dict()


@catalogue_routes.get("/catalogue/products/{sku}", responses=problems(404), response_model=ProductOut)
def get_product(sku: IdPath, request: Request) -> dict[str, Any]:
    """A product of the catalogue."""
    return _svc(request).catalogue.get(sku).to_dict()


@catalogue_routes.get("/catalogue/prices", responses=problems(), response_model=list[ProductOut])
def get_prices(
    request: Request, sku: Annotated[list[str], Query(min_length=1, max_length=MAX_LINES)]
) -> list[dict[str, Any]]:
    """The products of the SKUs asked for that exist (what the order service prices lines with)."""
    skus = [check_id(s, field="sku") for s in sku]
    return [p.to_dict() for p in _svc(request).catalogue.prices(skus).values()]


@catalogue_routes.get("/catalogue/search", responses=problems(), response_model=list[ProductOut])
def get_search(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=QUERY_MAX, description="Words every match holds")],
    limit: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 20,
) -> list[dict[str, Any]]:
    """Full-text search over names and descriptions, best match first."""
    return [p.to_dict() for p in _svc(request).catalogue.search(q, limit=limit)]


# ---- users -------------------------------------------------------------------------------------------------------


@users_routes.post("/users", status_code=201, responses=problems(409), response_model=UserOut)
def post_user(body: UserIn, request: Request) -> dict[str, Any]:
    """Register a customer."""
    return _svc(request).users.register(body.user_id, body.name).to_dict()


@users_routes.get("/users/{user_id}", responses=problems(404), response_model=UserOut)
def get_user(user_id: IdPath, request: Request) -> dict[str, Any]:
    """A registered customer."""
    return _svc(request).users.get(user_id).to_dict()


# ---- inventory ---------------------------------------------------------------------------------------------------


@inventory_routes.put("/inventory/stock/{sku}", responses=problems(409), response_model=StockOut)
def put_stock(sku: IdPath, body: StockIn, request: Request) -> dict[str, Any]:
    """Set a SKU's stock on hand (never below what reservations hold)."""
    return _svc(request).inventory.set_stock(sku, body.on_hand).to_dict()


@inventory_routes.get("/inventory/stock/{sku}", responses=problems(), response_model=StockOut)
def get_stock(sku: IdPath, request: Request) -> dict[str, Any]:
    """A SKU's stock from the record of truth."""
    return _svc(request).inventory.stock(sku).to_dict()


@inventory_routes.post(
    "/inventory/reservations", status_code=201, responses=problems(409), response_model=ReservationOut
)
def post_reservation(body: ReservationIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Hold stock for an order, all lines or none (FAILED names the short SKU); idempotent by order and key."""
    lines = [line.model_dump() for line in body.lines]
    return _svc(request).inventory.reserve(body.order_id, lines, key=key.with_body(None)).to_dict()


@inventory_routes.get("/inventory/reservations/{order_id}", responses=problems(), response_model=ReservationOut)
def get_reservation(order_id: IdPath, request: Request) -> dict[str, Any]:
    """An order's reservation (NONE: it holds nothing)."""
    return _svc(request).inventory.reservation(order_id).to_dict()


@inventory_routes.post(
    "/inventory/reservations/{order_id}/confirm", responses=problems(409), response_model=ReservationOut
)
def post_reservation_confirm(order_id: IdPath, request: Request) -> dict[str, Any]:
    """Turn an order's held stock into sold stock."""
    return _svc(request).inventory.confirm(order_id).to_dict()


@inventory_routes.post(
    "/inventory/reservations/{order_id}/release", responses=problems(409), response_model=ReservationOut
)
def post_reservation_release(order_id: IdPath, request: Request) -> dict[str, Any]:
    """Make an order's held stock sellable again (nothing held: nothing changes)."""
    return _svc(request).inventory.release(order_id).to_dict()


# ---- payment -----------------------------------------------------------------------------------------------------


@payment_routes.post("/payment/charges", status_code=201, responses=problems(409), response_model=PaymentOut)
def post_charge(body: ChargeIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Charge an order once (a second charge of it answers the first), or decline it by the rule."""
    payment = _svc(request).payment.charge(body.order_id, body.customer, body.amount, key=key.with_body(None))
    return payment.to_dict()


@payment_routes.post("/payment/refunds", responses=problems(409), response_model=PaymentOut | None)
def post_refund(body: RefundIn, request: Request, key: KeyHeader) -> dict[str, Any] | None:
    """Refund an order's charge (null: it was never charged, nothing changes)."""
    refunded = _svc(request).payment.refund(body.order_id, key=key.with_body(None))
    return None if refunded is None else refunded.to_dict()


@payment_routes.get("/payment/charges/{order_id}", responses=problems(), response_model=PaymentOut | None)
def get_charge(order_id: IdPath, request: Request) -> dict[str, Any] | None:
    """An order's charge (null: never charged)."""
    found = _svc(request).payment.payment(order_id)
    return None if found is None else found.to_dict()


# ---- orders ------------------------------------------------------------------------------------------------------


@orders_routes.post("/orders", status_code=201, responses=problems(404, 409, 503), response_model=OrderOut)
def post_order(body: OrderIn, request: Request) -> dict[str, Any]:
    """Place an order: priced by the catalogue, saved PENDING, OrderCreated recorded (same order id: that order)."""
    lines = [line.model_dump() for line in body.lines]
    return _svc(request).place(body.customer, lines, order_id=body.order_id, saga=body.saga).to_dict()


@orders_routes.get("/orders/{order_id}", responses=problems(404), response_model=OrderOut)
def get_order(order_id: IdPath, request: Request) -> dict[str, Any]:
    """An order's document."""
    return _svc(request).orders.get(order_id).to_dict()


@orders_routes.post("/orders/{order_id}/confirm", responses=problems(404, 409), response_model=OrderOut)
def post_order_confirm(order_id: IdPath, request: Request) -> dict[str, Any]:
    """Confirm a PENDING order (confirmed already: unchanged)."""
    return _svc(request).orders.confirm(order_id).to_dict()


@orders_routes.post("/orders/{order_id}/cancel", responses=problems(404, 409), response_model=OrderOut)
def post_order_cancel(order_id: IdPath, body: CancelIn, request: Request) -> dict[str, Any]:
    """Cancel a PENDING order (cancelled already: unchanged)."""
    return _svc(request).orders.cancel(order_id, reason=body.reason).to_dict()


# ---- notification ------------------------------------------------------------------------------------------------


@notification_routes.get("/notification/{order_id}", responses=problems(), response_model=list[NotificationOut])
def get_notifications(order_id: IdPath, request: Request) -> list[dict[str, Any]]:
    """The messages sent about an order (after the worker has relayed its events)."""
    return [n.to_dict() for n in _svc(request).notification.sent(order_id)]


# ---- the order saga ----------------------------------------------------------------------------------------------


class SagaCallOut(BaseModel):
    """One call of a step's action or compensation, as the saga log recorded it."""

    seq: int
    step: str
    phase: str = Field(description="action or compensation")
    kind: str = Field(description="compensatable, pivot or retriable")
    idempotency_key: str
    attempt: int
    outcome: str = Field(description="succeeded, declined, timed_out or failed")
    result: dict[str, Any] | None
    error: str | None
    started_at: str
    finished_at: str
    ms: float


class SagaOut(BaseModel):
    """An order saga: where it stands, why it compensated, and every call it made."""

    saga_id: str
    saga: str
    state: str = Field(description="running, compensating, completed or compensated")
    reason: str | None
    created_at: str
    finished_at: str | None
    timeline: list[SagaCallOut]


@sagas_routes.get("/sagas/{order_id}", responses=problems(404), response_model=SagaOut)
def get_saga(order_id: IdPath, request: Request) -> dict[str, Any]:
    """An orchestrated order's saga: its state, why it compensated, and every step and compensation called."""
    shown: dict[str, Any] = json.loads(_svc(request).saga_timeline(order_id, as_json=True))
    return shown


#: Every group: the routes of all the services in one process.
router = APIRouter()
for _group in GROUPS.values():
    router.include_router(_group)
