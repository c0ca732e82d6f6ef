"""The shell's side of ``commerce up``: the running commerce processes of a store, reached through their clients.

A command of ``datastrata commerce …`` goes to the process that owns its data when that process runs on this host
(its run file names a live pid), and to the services in this process otherwise (see cli.py).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from datastrata.core.config import Settings
from datastrata.services.processes import running
from datastrata.services.sagas.log import CONTEXT as SAGAS
from datastrata.systems.commerce.clients import (
    CatalogueHttp,
    InventoryHttp,
    NotificationHttp,
    OrdersHttp,
    PaymentHttp,
    UsersHttp,
)
from datastrata.systems.commerce.domain import CATALOGUE, INVENTORY, MANUAL, NOTIFICATION, ORDERS, PAYMENT, USERS
from datastrata.systems.commerce.orders import Order
from datastrata.systems.commerce.processes import peer, up_folder

#: Seconds ``order place`` waits for a running saga to confirm or cancel the order it placed.
SETTLE_WAIT = 30.0
#: The order's state while its saga runs.
PENDING = "PENDING"


class Remote:
    """Clients of every commerce process of `settings`' store (each found by its run file on every call)."""

    def __init__(self, settings: Settings) -> None:
        self.folder = up_folder(settings)
        self.catalogue = CatalogueHttp(peer(self.folder, CATALOGUE))
        self.users = UsersHttp(peer(self.folder, USERS))
        self.inventory = InventoryHttp(peer(self.folder, INVENTORY))
        self.payment = PaymentHttp(peer(self.folder, PAYMENT))
        self.orders = OrdersHttp(peer(self.folder, ORDERS))
        self.notification = NotificationHttp(peer(self.folder, NOTIFICATION))
        self.sagas = peer(self.folder, SAGAS)

    def up(self, name: str) -> bool:
        """Whether process `name` runs on this host."""
        return running(self.folder, name) is not None

    def settled(self, order: Order, *, wait: float = SETTLE_WAIT) -> Order:
        """`order` once its saga confirmed or cancelled it (as it stands after `wait` seconds; a manual one at once)."""
        deadline = time.monotonic() + wait
        while order.status == PENDING and order.saga != MANUAL and time.monotonic() < deadline:
            time.sleep(0.05)
            order = self.orders.get(order.order_id)
        return order

    def order_view(self, order_id: str) -> dict[str, Any]:
        """An order and what each service holds about it, asked of each service's process."""
        order = self.orders.get(order_id)
        payment = self.payment.payment(order.order_id)
        return {
            **order.to_dict(),
            "reservation": self.inventory.reservation(order.order_id).to_dict(),
            "payment": None if payment is None else payment.to_dict(),
            "notifications": [n.to_dict() for n in self.notification.sent(order.order_id)],
        }

    def saga(self, order_id: str) -> dict[str, Any]:
        """An order saga's timeline, from the orchestrator's process."""
        shown: dict[str, Any] = self.sagas.call("GET", f"/commerce/sagas/{quote(order_id, safe='')}")
        return shown
