"""Commerce rules, pure: ids, money and quantities, order lines and totals, the events, the payment decline rule.

The decomposition is the article's e-commerce platform: a product catalogue searched in full text, orders kept as
documents by id (key-value style), inventory as the relational record of truth with reserved stock as a semantic
lock, payments with idempotency keys, notifications on the bus, and a minimal user service.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from datastrata.core.errors import ValidationError
from datastrata.core.validation import bounded_int, bounded_list, bounded_text, decimal_value

#: The services, each a bounded context with its own store (``by_context``).
CATALOGUE, ORDERS, INVENTORY, PAYMENT, NOTIFICATION, USERS = (
    "catalogue", "orders", "inventory", "payment", "notification", "users",
)  # fmt: skip
SERVICES = (CATALOGUE, USERS, INVENTORY, PAYMENT, ORDERS, NOTIFICATION)

#: The events, by the service that records them.
ORDER_CREATED, ORDER_CONFIRMED, ORDER_CANCELLED = "OrderCreated", "OrderConfirmed", "OrderCancelled"
INVENTORY_RESERVED, INVENTORY_FAILED = "InventoryReserved", "InventoryFailed"
INVENTORY_RELEASED, INVENTORY_CONFIRMED, STOCK_SET = "InventoryReleased", "InventoryConfirmed", "StockSet"
PAYMENT_COMPLETED, PAYMENT_FAILED, PAYMENT_REFUNDED = "PaymentCompleted", "PaymentFailed", "PaymentRefunded"
PRODUCT_ADDED, USER_REGISTERED, NOTIFICATION_SENT = "ProductAdded", "UserRegistered", "NotificationSent"

#: How an order is carried on after it is placed: services reacting to each other's events, the saga orchestrator,
#: the same saga on Temporal, or nobody (each step called by hand through the services' APIs).
CHOREOGRAPHED, ORCHESTRATED, TEMPORAL, MANUAL = "choreographed", "orchestrated", "temporal", "manual"
SAGA_STYLES = (CHOREOGRAPHED, ORCHESTRATED, TEMPORAL, MANUAL)

#: Order statuses (a document's ``status``).
PENDING, CONFIRMED, CANCELLED = "PENDING", "CONFIRMED", "CANCELLED"
#: Reservation states: held (not sellable), confirmed (sold), released (sellable again).
RESERVED, SOLD, RELEASED = "RESERVED", "CONFIRMED", "RELEASED"
#: Payment states.
CHARGED, DECLINED, REFUNDED = "CHARGED", "DECLINED", "REFUNDED"

#: Bounds (refused beyond them, never rounded or truncated).
MONEY_DIGITS, MONEY_DECIMALS = 9, 2
MAX_QUANTITY = 1_000_000
MAX_STOCK = 1_000_000_000
MAX_LINES = 50
NAME_MAX, DESCRIPTION_MAX, QUERY_MAX = 200, 2000, 200
#: Ids: a SKU, an order id, a user id, a payment id — 1-64 letters, digits, '_', '.', ':' or '-'.
ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"
#: The card limit of the default decline rule: a charge above it is declined.
CARD_LIMIT = Decimal("10000.00")

_ID = re.compile(ID_PATTERN)


def check_id(value: object, *, field: str) -> str:
    """Return `value` if it is an id (1-64 letters, digits, '_', '.', ':' or '-')."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValidationError(
            f"{field} must be 1-64 letters, digits, '_', '.', ':' or '-' (e.g. sku-1); got {value!r}", field=field
        )
    return value


def check_style(value: object) -> str:
    """Return `value` if it names how an order is carried on (choreographed, orchestrated, temporal or manual)."""
    if value not in SAGA_STYLES:
        raise ValidationError(f"saga must be one of {', '.join(SAGA_STYLES)}; got {value!r}", field="saga")
    return str(value)


def money(value: object, *, field: str = "price") -> Decimal:
    """Return `value` as a positive amount with at most 9 digits and 2 decimals."""
    return decimal_value(
        value, field=field, max_digits=MONEY_DIGITS, max_decimals=MONEY_DECIMALS, minimum=Decimal(0),
        exclusive_minimum=True,
    )  # fmt: skip


def quantity(value: object, *, field: str = "quantity") -> int:
    """Return `value` as a quantity to order or reserve: 1..1,000,000."""
    return bounded_int(value, field=field, minimum=1, maximum=MAX_QUANTITY)


def stock_level(value: object) -> int:
    """Return `value` as a stock level on hand: 0..1,000,000,000."""
    return bounded_int(value, field="on_hand", minimum=0, maximum=MAX_STOCK)


def name_text(value: object) -> str:
    """Return `value` as a product or user name (1-200 characters)."""
    return bounded_text(value, field="name", max_length=NAME_MAX)


def description_text(value: object) -> str:
    """Return `value` as a product description (0-2000 characters)."""
    return bounded_text(value, field="description", max_length=DESCRIPTION_MAX, min_length=0)


def search_words(value: object) -> list[str]:
    """Return the words of a full-text query (1-200 characters, at least one word of letters or digits)."""
    text = bounded_text(value, field="query", max_length=QUERY_MAX)
    words = re.findall(r"\w+", text)
    if not words:
        raise ValidationError(f"query must hold at least one word of letters or digits; got {text!r}", field="query")
    return words


def fts5_query(words: list[str]) -> str:
    """Return SQLite FTS5 query text matching every word (each quoted: no operator reaches the engine)."""
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


@dataclass(frozen=True, slots=True)
class Line:
    """One order line: a product and how many."""

    sku: str
    quantity: int

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape."""
        return {"sku": self.sku, "quantity": self.quantity}


@dataclass(frozen=True, slots=True)
class PricedLine:
    """An order line at the catalogue's price when the order was placed."""

    sku: str
    quantity: int
    price: Decimal

    @property
    def amount(self) -> Decimal:
        """The line's amount: quantity times price."""
        return self.price * self.quantity

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape (amounts as exact decimal text)."""
        return {"sku": self.sku, "quantity": self.quantity, "price": str(self.price)}


def lines_of(raw: object) -> list[Line]:
    """Return order lines from ``[{"sku": …, "quantity": …}]`` or ``["sku:qty", …]``: 1-50, each SKU once."""
    if isinstance(raw, tuple):
        raw = list(raw)
    if not isinstance(raw, list):
        raise ValidationError("lines must be a list of {sku, quantity} (shell: SKU:QTY …)", field="lines")
    bounded_list(raw, field="lines", max_items=MAX_LINES, min_items=1)
    lines: list[Line] = []
    for item in raw:
        if isinstance(item, Line):
            lines.append(Line(check_id(item.sku, field="sku"), quantity(item.quantity)))
        elif isinstance(item, str):
            sku, sep, qty = item.partition(":")
            if not sep:
                raise ValidationError(f"each of lines is SKU:QTY (e.g. sku-1:2); got {item!r}", field="lines")
            lines.append(Line(check_id(sku, field="sku"), quantity(qty)))
        elif isinstance(item, dict):
            lines.append(Line(check_id(item.get("sku"), field="sku"), quantity(item.get("quantity"))))
        else:
            raise ValidationError(f"each of lines is {{sku, quantity}}; got {type(item).__name__}", field="lines")
    skus = [line.sku for line in lines]
    if len(set(skus)) != len(skus):
        twice = next(s for s in skus if skus.count(s) > 1)
        raise ValidationError(f"sku {twice!r} appears on two lines; put its whole quantity on one", field="lines")
    return lines


def total_of(lines: list[PricedLine]) -> Decimal:
    """Return the order's total."""
    return sum((line.amount for line in lines), Decimal(0))


@dataclass(frozen=True, slots=True)
class DeclineRule:
    """When the payment service declines a charge: above the card limit, or for a customer on the declined list."""

    limit: Decimal | None = CARD_LIMIT
    customers: frozenset[str] = frozenset()

    def reason(self, customer: str, amount: Decimal) -> str | None:
        """Return why a charge of `amount` for `customer` is declined, or None to charge it."""
        if customer in self.customers:
            return f"the card of {customer} is declined"
        if self.limit is not None and amount > self.limit:
            return f"{amount} is over the card limit of {self.limit}"
        return None
