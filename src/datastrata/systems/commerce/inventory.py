"""The inventory service: stock levels, the relational record of truth, and reservations as a semantic lock.

A reservation holds stock for an order: it is not sellable until the order is confirmed (the stock is sold) or
released (sellable again). Reserving is one transaction: each line's conditional update takes stock only while
``on_hand - reserved`` covers it, and the table's ``CHECK`` constraints refuse negative stock whatever a statement
does. Where a shared cache (Redis) is configured, each SKU's available count is cached as a counter that every
committed change invalidates; reserving never reads the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datastrata.core.errors import RuleViolation
from datastrata.core.events import NewEvent
from datastrata.runtime.location import Work
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.stores.cache import Cache
from datastrata.stores.database import time_to_db
from datastrata.systems.commerce.domain import (
    INVENTORY,
    INVENTORY_CONFIRMED,
    INVENTORY_FAILED,
    INVENTORY_RELEASED,
    INVENTORY_RESERVED,
    RELEASED,
    RESERVED,
    SOLD,
    STOCK_SET,
    Line,
    check_id,
    lines_of,
    stock_level,
)
from datastrata.writes.commands import CommandHandler

#: A reservation's outcome when the stock did not cover it (nothing was held).
FAILED = "FAILED"
#: What :meth:`InventoryService.release` answers for an order that holds nothing (a compensation of a failed step).
NONE = "NONE"
#: Seconds a cached available count lives at most (every committed change also invalidates it at once).
CACHE_TTL = 30.0


@dataclass(frozen=True, slots=True)
class Stock:
    """A SKU's stock: on hand, held by reservations, and what is left to sell."""

    sku: str
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        """What can still be reserved."""
        return self.on_hand - self.reserved

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape."""
        return {"sku": self.sku, "on_hand": self.on_hand, "reserved": self.reserved, "available": self.available}


@dataclass(frozen=True, slots=True)
class Reservation:
    """An order's reservation: its state and lines, and why it failed when it did."""

    order_id: str
    state: str
    lines: tuple[Line, ...]
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape."""
        return {"order_id": self.order_id, "state": self.state, "lines": [x.to_dict() for x in self.lines],
                "reason": self.reason}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reservation:
        """Rebuild from :meth:`to_dict` (a stored idempotent result, or the service's HTTP answer)."""
        lines = tuple(Line(str(x["sku"]), int(x["quantity"])) for x in data["lines"])
        return cls(str(data["order_id"]), str(data["state"]), lines, data.get("reason"))


class InventoryService:
    """Sets stock, reserves it for orders, confirms or releases reservations; idempotent by order and key."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.commands = CommandHandler(runtime)
        cache = runtime.cache
        #: The shared cache of available counts (None: no shared cache configured, reads go to the store).
        self.cache: Cache | None = cache if cache.shared else None

    def set_stock(self, sku: object, on_hand: object) -> Stock:
        """Set the stock on hand of `sku` (never below what reservations hold)."""
        code, level = check_id(sku, field="sku"), stock_level(on_hand)

        def body(work: Work) -> Stock:
            tenant = work.scope.tenant
            reserved = work.scalar(
                "SELECT reserved FROM commerce_stock WHERE tenant_id = ? AND sku = ?", (tenant, code)
            )
            held = int(reserved or 0)
            if level < held:
                raise RuleViolation(
                    f"{code} has {held} reserved for orders not yet confirmed or released; set on_hand to at least "
                    f"{held}",
                    field="on_hand",
                )
            if reserved is None:
                work.execute(
                    "INSERT INTO commerce_stock (tenant_id, sku, on_hand, reserved) VALUES (?, ?, ?, 0)",
                    (tenant, code, level),
                )
            else:
                work.execute(
                    "UPDATE commerce_stock SET on_hand = ? WHERE tenant_id = ? AND sku = ?", (level, tenant, code)
                )
            work.append([NewEvent(STOCK_SET, {"sku": code, "on_hand": level})])
            self._invalidate(work, [code])
            return Stock(code, level, held)

        return self.commands.run("set_stock", Scope.of(INVENTORY, code), body, encode=Stock.to_dict, decode=_stock_of)

    def stock(self, sku: object) -> Stock:
        """Return the stock of `sku` from the record of truth (a SKU never stocked has none)."""
        code = check_id(sku, field="sku")
        with self.runtime.read(Scope.of(INVENTORY, code)) as work:
            row = work.one(
                "SELECT on_hand, reserved FROM commerce_stock WHERE tenant_id = ? AND sku = ?",
                (work.scope.tenant, code),
            )
        return Stock(code, int(row[0]), int(row[1])) if row is not None else Stock(code, 0, 0)

    def available(self, sku: object) -> int:
        """Return what `sku` has left to sell: the cached counter where a shared cache is configured."""
        code = check_id(sku, field="sku")
        if self.cache is None:
            return self.stock(code).available
        value = self.cache.get_or_load(self._key(code), lambda: (str(self.stock(code).available), CACHE_TTL))
        return int(value or 0)

    def reserve(self, order_id: object, lines: object, *, key: str | None = None) -> Reservation:
        """Hold stock for every line of an order, or none of it (``FAILED``, with the short SKU as the reason).

        Idempotent by order: reserving an order again returns its reservation as it stands; `key` (default: the
        order id) is the step's idempotency key in this service's inbox.
        """
        order = check_id(order_id, field="order_id")
        wanted = tuple(lines_of(lines))
        content = {"order_id": order, "lines": [x.to_dict() for x in wanted]}

        def body(work: Work) -> Reservation:
            existing = _reservation_in(work, order)
            if existing is not None:
                return existing
            tenant, now = work.scope.tenant, time_to_db(work.dialect, self.runtime.clock())
            if _released_in(work, order):  # its release came first (a step that timed out): never hold it now
                reason = f"order {order} was released before this reservation arrived"
                work.append([NewEvent(INVENTORY_FAILED, {**content, "reason": reason})])
                return Reservation(order, FAILED, wanted, reason)
            taken: list[Line] = []
            for line in wanted:
                cursor = work.execute(
                    "UPDATE commerce_stock SET reserved = reserved + ? "
                    "WHERE tenant_id = ? AND sku = ? AND on_hand - reserved >= ?",
                    (line.quantity, tenant, line.sku, line.quantity),
                )
                if cursor.rowcount != 1:
                    for held in taken:  # undo this transaction's holds: all lines or none
                        work.execute(
                            "UPDATE commerce_stock SET reserved = reserved - ? WHERE tenant_id = ? AND sku = ?",
                            (held.quantity, tenant, held.sku),
                        )
                    left = _available_in(work, line.sku)
                    reason = f"{line.sku}: {left} available, {line.quantity} wanted"
                    work.append([NewEvent(INVENTORY_FAILED, {**content, "reason": reason})])
                    return Reservation(order, FAILED, wanted, reason)
                taken.append(line)
            work.executemany(
                "INSERT INTO commerce_reservations (tenant_id, order_id, sku, quantity, state, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(tenant, order, x.sku, x.quantity, RESERVED, now) for x in wanted],
            )
            work.append([NewEvent(INVENTORY_RESERVED, content)])
            self._invalidate(work, [x.sku for x in wanted])
            return Reservation(order, RESERVED, wanted)

        return self.commands.run(
            "reserve", Scope.of(INVENTORY, order), body, encode=Reservation.to_dict, decode=Reservation.from_dict,
            key=key or order, content=content, key_field="key",
        )  # fmt: skip

    def confirm(self, order_id: object) -> Reservation:
        """Turn an order's held stock into sold stock (again: the same answer; a released one is refused)."""
        return self._settle(check_id(order_id, field="order_id"), SOLD)

    def release(self, order_id: object) -> Reservation:
        """Make an order's held stock sellable again (again: nothing changes; nothing held: a later reserve fails)."""
        return self._settle(check_id(order_id, field="order_id"), RELEASED)

    def reservation(self, order_id: object) -> Reservation:
        """Return an order's reservation (state ``NONE`` when it holds nothing)."""
        order = check_id(order_id, field="order_id")
        with self.runtime.read(Scope.of(INVENTORY, order)) as work:
            found = _reservation_in(work, order)
        return found or Reservation(order, NONE, ())

    def _settle(self, order: str, to: str) -> Reservation:
        def body(work: Work) -> Reservation:
            found = _reservation_in(work, order)
            if found is None:
                if to == SOLD:
                    raise RuleViolation(f"order {order} holds no stock to confirm; reserve it first", field="order_id")
                work.execute(  # a tombstone: a reservation of the order arriving later is refused
                    "INSERT INTO commerce_released_orders (tenant_id, order_id, released_at) VALUES (?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (work.scope.tenant, order, time_to_db(work.dialect, self.runtime.clock())),
                )
                return Reservation(order, NONE, ())
            if found.state == to:
                return found
            if found.state != RESERVED:
                raise RuleViolation(
                    f"order {order}'s stock is {found.state.lower()} already; it cannot become {to.lower()}",
                    field="order_id",
                )
            tenant = work.scope.tenant
            sold = 1 if to == SOLD else 0
            work.executemany(
                "UPDATE commerce_stock SET reserved = reserved - ?, on_hand = on_hand - ? "
                "WHERE tenant_id = ? AND sku = ?",
                [(x.quantity, x.quantity * sold, tenant, x.sku) for x in found.lines],
            )
            work.execute(
                "UPDATE commerce_reservations SET state = ?, updated_at = ? WHERE tenant_id = ? AND order_id = ?",
                (to, time_to_db(work.dialect, self.runtime.clock()), tenant, order),
            )
            settled = Reservation(order, to, found.lines)
            kind = INVENTORY_CONFIRMED if to == SOLD else INVENTORY_RELEASED
            work.append([NewEvent(kind, settled.to_dict())])
            self._invalidate(work, [x.sku for x in found.lines])
            return settled

        return self.commands.run(
            "confirm" if to == SOLD else "release", Scope.of(INVENTORY, order), body,
            encode=Reservation.to_dict, decode=Reservation.from_dict,
        )  # fmt: skip

    def _key(self, sku: str) -> str:
        return f"commerce:available:{Scope.of(INVENTORY).tenant}:{sku}"

    def _invalidate(self, work: Work, skus: list[str]) -> None:
        """Forget the cached counters of `skus` once the transaction commits."""
        cache = self.cache
        if cache is not None:
            keys = [self._key(s) for s in skus]
            work.on_commit(lambda: cache.delete(*keys))


def _reservation_in(work: Work, order: str) -> Reservation | None:
    rows = work.query(
        "SELECT sku, quantity, state FROM commerce_reservations WHERE tenant_id = ? AND order_id = ? ORDER BY sku",
        (work.scope.tenant, order),
    )
    if not rows:
        return None
    return Reservation(order, str(rows[0][2]), tuple(Line(str(r[0]), int(r[1])) for r in rows))


def _released_in(work: Work, order: str) -> bool:
    found = work.scalar(
        "SELECT 1 FROM commerce_released_orders WHERE tenant_id = ? AND order_id = ?", (work.scope.tenant, order)
    )
    return found is not None


def _available_in(work: Work, sku: str) -> int:
    row = work.one(
        "SELECT on_hand - reserved FROM commerce_stock WHERE tenant_id = ? AND sku = ?", (work.scope.tenant, sku)
    )
    return int(row[0]) if row is not None else 0


def _stock_of(data: dict[str, Any]) -> Stock:
    return Stock(str(data["sku"]), int(data["on_hand"]), int(data["reserved"]))
