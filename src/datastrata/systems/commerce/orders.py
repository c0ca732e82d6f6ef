"""The order service: each order one document by id (key-value style), ``PENDING`` → ``CONFIRMED`` or ``CANCELLED``.

Placing an order prices its lines by asking the catalogue service and checks the customer with the user service —
through their clients, never their tables — then saves the document ``PENDING`` and records ``OrderCreated`` in the
same transaction. Confirming and cancelling are idempotent (the same answer again); a cancelled order is never
confirmed and a confirmed one never cancelled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from datastrata.core.errors import NotFound, RuleViolation, ValidationError
from datastrata.core.events import NewEvent
from datastrata.core.ids import new_id
from datastrata.runtime.location import Work
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.stores.database import time_to_db
from datastrata.systems.commerce.domain import (
    CANCELLED,
    CONFIRMED,
    MANUAL,
    ORDER_CANCELLED,
    ORDER_CONFIRMED,
    ORDER_CREATED,
    ORDERS,
    PENDING,
    PricedLine,
    check_id,
    check_style,
    lines_of,
    total_of,
)
from datastrata.writes.commands import CommandHandler

if TYPE_CHECKING:
    from datastrata.systems.commerce.clients import CatalogueApi, UsersApi

#: The longest reason an order is cancelled with.
REASON_MAX = 500


@dataclass(frozen=True, slots=True)
class Order:
    """An order's document: who, what at which price, the total, its status and why it was cancelled."""

    order_id: str
    customer: str
    lines: tuple[PricedLine, ...]
    status: str
    version: int = 1
    reason: str | None = None
    #: How the order is carried on after it is placed (:data:`~datastrata.systems.commerce.domain.SAGA_STYLES`).
    saga: str = MANUAL

    @property
    def total(self) -> Decimal:
        """The order's total."""
        return total_of(list(self.lines))

    def to_dict(self) -> dict[str, Any]:
        """Return the document (amounts as exact decimal text)."""
        return {"order_id": self.order_id, "customer": self.customer, "status": self.status,
                "lines": [x.to_dict() for x in self.lines], "total": str(self.total), "version": self.version,
                "reason": self.reason, "saga": self.saga}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Order:
        """Rebuild from the document."""
        lines = tuple(PricedLine(str(x["sku"]), int(x["quantity"]), Decimal(str(x["price"]))) for x in data["lines"])
        return cls(str(data["order_id"]), str(data["customer"]), lines, str(data["status"]),
                   int(data.get("version", 1)), data.get("reason"), str(data.get("saga", MANUAL)))  # fmt: skip


class OrdersService:
    """Places orders (priced by the catalogue, for known customers), confirms and cancels them."""

    def __init__(self, runtime: Runtime, *, catalogue: CatalogueApi, users: UsersApi) -> None:
        self.runtime = runtime
        self.catalogue = catalogue
        self.users = users
        self.commands = CommandHandler(runtime)

    def place(self, customer: object, lines: object, *, order_id: object | None = None, saga: object = MANUAL) -> Order:
        """Save a ``PENDING`` order and record ``OrderCreated``; the same order id again returns that order.

        `saga` says how it is carried on: ``choreographed`` (the services react to its events), ``orchestrated``
        (the order saga drives it) or ``manual`` (nobody: each step through the services' APIs).
        """
        order_id = check_id(order_id, field="order_id") if order_id is not None else new_id()
        who = check_id(customer, field="customer")
        style = check_style(saga)
        wanted = lines_of(lines)
        content = {"customer": who, "lines": [x.to_dict() for x in wanted], "saga": style}
        with self.runtime.read(Scope.of(ORDERS, order_id)) as work:  # a replay answers without asking anyone
            stored = _order_in(work, order_id)
        if stored is not None and _same(stored, who, content):
            return stored
        self.users.get(who)  # NotFound names the customer
        products = self.catalogue.prices([x.sku for x in wanted])
        missing = [x.sku for x in wanted if x.sku not in products]
        if missing:
            raise NotFound(f"no product {missing[0]!r} in the catalogue; add it first", field="lines")
        priced = tuple(PricedLine(x.sku, x.quantity, products[x.sku].price) for x in wanted)
        order = Order(order_id, who, priced, PENDING, saga=style)

        def body(work: Work) -> Order:
            found = _order_in(work, order_id)
            if found is not None:
                if not _same(found, who, content):
                    raise RuleViolation(
                        f"order {order_id} exists with other lines or another customer; choose a new order id",
                        field="order_id",
                    )
                return found
            _save(work, order, self.runtime.clock(), insert=True)
            work.append([NewEvent(ORDER_CREATED, order.to_dict())], expected_version=0)
            return order

        return self.commands.run(
            "place", Scope.of(ORDERS, order_id), body, encode=Order.to_dict, decode=Order.from_dict
        )

    def get(self, order_id: object) -> Order:
        """Return the order `order_id`."""
        oid = check_id(order_id, field="order_id")
        with self.runtime.read(Scope.of(ORDERS, oid)) as work:
            found = _order_in(work, oid)
        if found is None:
            raise NotFound(f"no order {oid!r}; place one with `commerce order place`", field="order_id")
        return found

    def confirm(self, order_id: object) -> Order:
        """Mark a ``PENDING`` order ``CONFIRMED`` and record ``OrderConfirmed`` (confirmed already: unchanged)."""
        return self._move(check_id(order_id, field="order_id"), CONFIRMED, None)

    def cancel(self, order_id: object, *, reason: object = "cancelled") -> Order:
        """Mark a ``PENDING`` order ``CANCELLED`` with `reason` and record ``OrderCancelled`` (again: unchanged)."""
        if not isinstance(reason, str) or not 0 < len(reason) <= REASON_MAX:
            raise ValidationError(f"reason must be 1-{REASON_MAX} characters", field="reason")
        return self._move(check_id(order_id, field="order_id"), CANCELLED, reason)

    def _move(self, order_id: str, to: str, reason: str | None) -> Order:
        def body(work: Work) -> Order:
            found = _order_in(work, order_id)
            if found is None:
                raise NotFound(f"no order {order_id!r}", field="order_id")
            if found.status == to:
                return found
            if found.status != PENDING:
                raise RuleViolation(
                    f"order {order_id} is {found.status} already; it cannot become {to}", field="order_id"
                )
            moved = replace(found, status=to, version=found.version + 1, reason=reason)
            _save(work, moved, self.runtime.clock(), insert=False)
            kind = ORDER_CONFIRMED if to == CONFIRMED else ORDER_CANCELLED
            work.append([NewEvent(kind, moved.to_dict())], expected_version=found.version)
            return moved

        return self.commands.run(
            "confirm" if to == CONFIRMED else "cancel", Scope.of(ORDERS, order_id), body,
            encode=Order.to_dict, decode=Order.from_dict,
        )  # fmt: skip


def _same(order: Order, customer: str, content: dict[str, Any]) -> bool:
    lines = [{"sku": x.sku, "quantity": x.quantity} for x in order.lines]
    return order.customer == customer and lines == content["lines"] and order.saga == content["saga"]


def _order_in(work: Work, order_id: str) -> Order | None:
    document = work.scalar(
        "SELECT document FROM commerce_orders WHERE tenant_id = ? AND order_id = ?", (work.scope.tenant, order_id)
    )
    return None if document is None else Order.from_dict(json.loads(str(document)))


def _save(work: Work, order: Order, now: Any, *, insert: bool) -> None:
    """Write the order's document; an update is conditional on the version read (a concurrent change retries)."""
    document = json.dumps(order.to_dict(), sort_keys=True)
    at = time_to_db(work.dialect, now)
    if insert:
        work.execute(
            "INSERT INTO commerce_orders (tenant_id, order_id, status, document, version, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (work.scope.tenant, order.order_id, order.status, document, order.version, at),
        )
        return
    work.execute(
        "UPDATE commerce_orders SET status = ?, document = ?, version = ?, updated_at = ? "
        "WHERE tenant_id = ? AND order_id = ? AND version = ?",
        (order.status, document, order.version, at, work.scope.tenant, order.order_id, order.version - 1),
    )
