"""The payment service: one charge per order (an idempotency key per charge and refund), declines by a rule, refunds.

An order is charged at most once: a charge for an order that has one answers that charge, whatever its key, so a
retried or duplicated step never charges twice. A declined charge is recorded too (``PaymentFailed``) so the
same step asked again gets the same answer. A refund of an order never charged records a ``VOID`` payment, so a
charge of that order arriving late (a step that timed out) answers it and charges nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from datastrata.core.events import NewEvent
from datastrata.core.ids import new_id
from datastrata.runtime.location import Work
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.stores.database import time_to_db
from datastrata.systems.commerce.domain import (
    CHARGED,
    DECLINED,
    PAYMENT,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
    REFUNDED,
    DeclineRule,
    check_id,
    money,
)
from datastrata.writes.commands import CommandHandler

#: What :meth:`PaymentService.refund` answers for an order never charged (the compensation of a failed step).
NONE = "NONE"
#: A payment row recording a refund that came before any charge: a charge arriving later answers it, charging nothing.
VOID = "VOID"


@dataclass(frozen=True, slots=True)
class Payment:
    """A charge of an order: charged, declined (with the reason) or refunded."""

    payment_id: str
    order_id: str
    customer: str
    amount: Decimal
    state: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape (the amount as exact decimal text)."""
        return {"payment_id": self.payment_id, "order_id": self.order_id, "customer": self.customer,
                "amount": str(self.amount), "state": self.state, "reason": self.reason}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Payment:
        """Rebuild from :meth:`to_dict`."""
        return cls(str(data["payment_id"]), str(data["order_id"]), str(data["customer"]),
                   Decimal(str(data["amount"])), str(data["state"]), data.get("reason"))  # fmt: skip


class PaymentService:
    """Charges orders (declining by its rule), refunds them; every command idempotent by key."""

    def __init__(self, runtime: Runtime, *, decline: DeclineRule | None = None) -> None:
        self.runtime = runtime
        self.commands = CommandHandler(runtime)
        self.decline = decline or DeclineRule()

    def charge(self, order_id: object, customer: object, amount: object, *, key: str | None = None) -> Payment:
        """Charge `amount` for an order (once per order), or decline it; `key` defaults to the order id."""
        order, who = check_id(order_id, field="order_id"), check_id(customer, field="customer")
        how_much = money(amount, field="amount")
        content = {"order_id": order, "customer": who, "amount": str(how_much)}

        def body(work: Work) -> Payment:
            found = _charge_in(work, order)
            if found is not None:
                return found
            reason = self.decline.reason(who, how_much)
            payment = Payment(new_id(), order, who, how_much, DECLINED if reason else CHARGED, reason)
            work.execute(
                "INSERT INTO commerce_payments (tenant_id, payment_id, order_id, customer, amount, state, reason, "
                "charged_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (work.scope.tenant, payment.payment_id, order, who, how_much, payment.state, reason,
                 time_to_db(work.dialect, self.runtime.clock())),
            )  # fmt: skip
            work.append([NewEvent(PAYMENT_FAILED if reason else PAYMENT_COMPLETED, payment.to_dict())])
            return payment

        return self.commands.run(
            "charge", Scope.of(PAYMENT, order), body, encode=Payment.to_dict, decode=Payment.from_dict,
            key=key or order, content=content, key_field="key",
        )  # fmt: skip

    def refund(self, order_id: object, *, key: str | None = None) -> Payment | None:
        """Refund an order's charge (again: the same answer; never charged or declined: None, nothing changes)."""
        order = check_id(order_id, field="order_id")

        def body(work: Work) -> dict[str, Any]:
            found = _charge_in(work, order)
            if found is None:  # a tombstone: a charge of the order arriving later charges nothing
                work.execute(
                    "INSERT INTO commerce_payments (tenant_id, payment_id, order_id, customer, amount, state, reason, "
                    "charged_at) VALUES (?, ?, ?, '', 0, ?, ?, ?)",
                    (work.scope.tenant, new_id(), order, VOID, "refunded before any charge arrived",
                     time_to_db(work.dialect, self.runtime.clock())),
                )  # fmt: skip
                return {"state": NONE, "order_id": order}
            if found.state in (DECLINED, VOID):
                return {"state": NONE, "order_id": order}
            if found.state == REFUNDED:
                return found.to_dict()
            work.execute(
                "UPDATE commerce_payments SET state = ? WHERE tenant_id = ? AND payment_id = ?",
                (REFUNDED, work.scope.tenant, found.payment_id),
            )
            refunded = Payment(found.payment_id, order, found.customer, found.amount, REFUNDED)
            work.append([NewEvent(PAYMENT_REFUNDED, refunded.to_dict())])
            return refunded.to_dict()

        data = self.commands.run(
            "refund",
            Scope.of(PAYMENT, order),
            body,
            encode=_same_dict,
            decode=_same_dict,
            key=f"refund:{key or order}",
            content={"order_id": order},
            key_field="key",
        )
        return None if data["state"] == NONE else Payment.from_dict(data)

    def payment(self, order_id: object) -> Payment | None:
        """Return an order's charge (None: never charged)."""
        order = check_id(order_id, field="order_id")
        with self.runtime.read(Scope.of(PAYMENT, order)) as work:
            return _charge_in(work, order)


def _same_dict(data: dict[str, Any]) -> dict[str, Any]:
    return data


def _charge_in(work: Work, order: str) -> Payment | None:
    row = work.one(
        "SELECT payment_id, customer, amount, state, reason FROM commerce_payments "
        "WHERE tenant_id = ? AND order_id = ? ORDER BY charged_at DESC, payment_id DESC LIMIT 1",
        (work.scope.tenant, order),
    )
    if row is None:
        return None
    return Payment(str(row[0]), order, str(row[1]), Decimal(str(row[2])), str(row[3]), row[4])
