"""The commerce services' typed clients: one interface each, served in-process by the service or over HTTP.

Another service holds a client, never a store: the in-process client is the service object itself, the HTTP one
calls its routes under ``/commerce/<service>/…`` through a :class:`~datastrata.services.client.Transport` (an
:class:`~datastrata.services.client.HttpTransport`, or a peer process found by its run file) and turns the answers
back into the same result types (and problems back into the same errors).
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

from datastrata.services.client import Transport
from datastrata.systems.commerce.catalogue import Product
from datastrata.systems.commerce.domain import lines_of
from datastrata.systems.commerce.inventory import Reservation, Stock
from datastrata.systems.commerce.notification import Notification
from datastrata.systems.commerce.orders import Order
from datastrata.systems.commerce.payment import Payment
from datastrata.systems.commerce.users import User


class CatalogueApi(Protocol):
    """The product catalogue as other services see it."""

    def add(
        self, sku: object, name: object, price: object, *, description: object = "", key: str | None = None
    ) -> Product:
        """Add or change a product."""

    def get(self, sku: object) -> Product:
        """Return a product."""

    def prices(self, skus: list[str]) -> dict[str, Product]:
        """Return the products of `skus` that exist."""

    def search(self, query: object, *, limit: int = 20) -> list[Product]:
        """Full-text search, best match first."""


class UsersApi(Protocol):
    """The user service as other services see it."""

    def register(self, user_id: object, name: object) -> User:
        """Register a customer."""

    def get(self, user_id: object) -> User:
        """Return a customer."""


class InventoryApi(Protocol):
    """The inventory service as other services see it."""

    def set_stock(self, sku: object, on_hand: object) -> Stock:
        """Set a SKU's stock on hand."""

    def stock(self, sku: object) -> Stock:
        """Return a SKU's stock."""

    def reserve(self, order_id: object, lines: object, *, key: str | None = None) -> Reservation:
        """Hold stock for an order (all lines or none)."""

    def confirm(self, order_id: object) -> Reservation:
        """Turn an order's held stock into sold stock."""

    def release(self, order_id: object) -> Reservation:
        """Make an order's held stock sellable again."""

    def reservation(self, order_id: object) -> Reservation:
        """Return an order's reservation (NONE: it holds nothing)."""


class PaymentApi(Protocol):
    """The payment service as other services see it."""

    def charge(self, order_id: object, customer: object, amount: object, *, key: str | None = None) -> Payment:
        """Charge an order once, or decline it."""

    def refund(self, order_id: object, *, key: str | None = None) -> Payment | None:
        """Refund an order's charge."""

    def payment(self, order_id: object) -> Payment | None:
        """Return an order's charge."""


class OrdersApi(Protocol):
    """The order service as other services see it."""

    def place(
        self, customer: object, lines: object, *, order_id: object | None = None, saga: object = "manual"
    ) -> Order:
        """Save a PENDING order and record OrderCreated."""

    def get(self, order_id: object) -> Order:
        """Return an order."""

    def confirm(self, order_id: object) -> Order:
        """Confirm a PENDING order."""

    def cancel(self, order_id: object, *, reason: object = "cancelled") -> Order:
        """Cancel a PENDING order."""


def _seg(value: object) -> str:
    return quote(str(value), safe="")


def _lines(lines: object) -> list[dict[str, Any]]:
    return [x.to_dict() for x in lines_of(lines)]


class CatalogueHttp:
    """The catalogue over HTTP."""

    def __init__(self, transport: Transport) -> None:
        self.t = transport

    def add(
        self, sku: object, name: object, price: object, *, description: object = "", key: str | None = None
    ) -> Product:
        """``POST /commerce/catalogue/products``."""
        body = {"sku": sku, "name": name, "price": str(price), "description": description}
        return Product.from_dict(self.t.call("POST", "/commerce/catalogue/products", body=body, key=key))

    def get(self, sku: object) -> Product:
        """``GET /commerce/catalogue/products/{sku}``."""
        return Product.from_dict(self.t.call("GET", f"/commerce/catalogue/products/{_seg(sku)}"))

    def prices(self, skus: list[str]) -> dict[str, Product]:
        """``GET /commerce/catalogue/prices?sku=…``."""
        found = self.t.call("GET", "/commerce/catalogue/prices", params={"sku": list(skus)})
        return {p["sku"]: Product.from_dict(p) for p in found}

    def search(self, query: object, *, limit: int = 20) -> list[Product]:
        """``GET /commerce/catalogue/search?q=…``."""
        found = self.t.call("GET", "/commerce/catalogue/search", params={"q": query, "limit": limit})
        return [Product.from_dict(p) for p in found]


class UsersHttp:
    """The user service over HTTP."""

    def __init__(self, transport: Transport) -> None:
        self.t = transport

    def register(self, user_id: object, name: object) -> User:
        """``POST /commerce/users``."""
        return User.from_dict(self.t.call("POST", "/commerce/users", body={"user_id": user_id, "name": name}))

    def get(self, user_id: object) -> User:
        """``GET /commerce/users/{user_id}``."""
        return User.from_dict(self.t.call("GET", f"/commerce/users/{_seg(user_id)}"))


class InventoryHttp:
    """The inventory service over HTTP."""

    def __init__(self, transport: Transport) -> None:
        self.t = transport

    def set_stock(self, sku: object, on_hand: object) -> Stock:
        """``PUT /commerce/inventory/stock/{sku}``."""
        data = self.t.call("PUT", f"/commerce/inventory/stock/{_seg(sku)}", body={"on_hand": on_hand})
        return Stock(str(data["sku"]), int(data["on_hand"]), int(data["reserved"]))

    def stock(self, sku: object) -> Stock:
        """``GET /commerce/inventory/stock/{sku}``."""
        data = self.t.call("GET", f"/commerce/inventory/stock/{_seg(sku)}")
        return Stock(str(data["sku"]), int(data["on_hand"]), int(data["reserved"]))

    def reserve(self, order_id: object, lines: object, *, key: str | None = None) -> Reservation:
        """``POST /commerce/inventory/reservations``."""
        body = {"order_id": order_id, "lines": _lines(lines)}
        return Reservation.from_dict(self.t.call("POST", "/commerce/inventory/reservations", body=body, key=key))

    def confirm(self, order_id: object) -> Reservation:
        """``POST /commerce/inventory/reservations/{order_id}/confirm``."""
        path = f"/commerce/inventory/reservations/{_seg(order_id)}/confirm"
        return Reservation.from_dict(self.t.call("POST", path))

    def release(self, order_id: object) -> Reservation:
        """``POST /commerce/inventory/reservations/{order_id}/release``."""
        path = f"/commerce/inventory/reservations/{_seg(order_id)}/release"
        return Reservation.from_dict(self.t.call("POST", path))

    def reservation(self, order_id: object) -> Reservation:
        """``GET /commerce/inventory/reservations/{order_id}``."""
        return Reservation.from_dict(self.t.call("GET", f"/commerce/inventory/reservations/{_seg(order_id)}"))


class PaymentHttp:
    """The payment service over HTTP."""

    def __init__(self, transport: Transport) -> None:
        self.t = transport

    def charge(self, order_id: object, customer: object, amount: object, *, key: str | None = None) -> Payment:
        """``POST /commerce/payment/charges``."""
        body = {"order_id": order_id, "customer": customer, "amount": str(amount)}
        return Payment.from_dict(self.t.call("POST", "/commerce/payment/charges", body=body, key=key))

    def refund(self, order_id: object, *, key: str | None = None) -> Payment | None:
        """``POST /commerce/payment/refunds`` (answers ``null`` for an order never charged)."""
        data = self.t.call("POST", "/commerce/payment/refunds", body={"order_id": order_id}, key=key)
        return None if data is None else Payment.from_dict(data)

    def payment(self, order_id: object) -> Payment | None:
        """``GET /commerce/payment/charges/{order_id}`` (``null``: never charged)."""
        data = self.t.call("GET", f"/commerce/payment/charges/{_seg(order_id)}")
        return None if data is None else Payment.from_dict(data)


class OrdersHttp:
    """The order service over HTTP."""

    def __init__(self, transport: Transport) -> None:
        self.t = transport

    def place(
        self, customer: object, lines: object, *, order_id: object | None = None, saga: object = "manual"
    ) -> Order:
        """``POST /commerce/orders``."""
        body = {"customer": customer, "lines": _lines(lines), "order_id": order_id, "saga": saga}
        return Order.from_dict(self.t.call("POST", "/commerce/orders", body=body))

    def get(self, order_id: object) -> Order:
        """``GET /commerce/orders/{order_id}``."""
        return Order.from_dict(self.t.call("GET", f"/commerce/orders/{_seg(order_id)}"))

    def confirm(self, order_id: object) -> Order:
        """``POST /commerce/orders/{order_id}/confirm``."""
        return Order.from_dict(self.t.call("POST", f"/commerce/orders/{_seg(order_id)}/confirm"))

    def cancel(self, order_id: object, *, reason: object = "cancelled") -> Order:
        """``POST /commerce/orders/{order_id}/cancel``."""
        path = f"/commerce/orders/{_seg(order_id)}/cancel"
        return Order.from_dict(self.t.call("POST", path, body={"reason": reason}))


class NotificationHttp:
    """The notification service over HTTP."""

    def __init__(self, transport: Transport) -> None:
        self.t = transport

    def sent(self, order_id: object) -> list[Notification]:
        """``GET /commerce/notification/{order_id}``."""
        found = self.t.call("GET", f"/commerce/notification/{_seg(order_id)}")
        return [Notification(str(n["notification_id"]), str(n["order_id"]), str(n["kind"]), str(n["message"]))
                for n in found]  # fmt: skip
