"""A small shop of three real services over their own stores, to exercise sagas in tests and benchmarks.

Inventory (reserve/release: compensatable), payment (charge: the pivot) and orders (confirm: retriable), each on a
location of its own, called by the saga engine with the step's idempotency key — as the commerce system's services
will be. `Faults` makes a step's calls slow, lost or failing per attempt, to drive timeouts and retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from datastrata.runtime.location import Location, Work
from datastrata.runtime.scope import Scope
from datastrata.services.sagas import Action, RetryPolicy, SagaDefinition, Step, StepCall, StepDeclined
from datastrata.stores.database import Database
from datastrata.writes.commands import CommandHandler

_DDL = {
    "shop.inventory": """
CREATE TABLE IF NOT EXISTS inv_stock (sku TEXT PRIMARY KEY, available INTEGER NOT NULL CHECK (available >= 0));
CREATE TABLE IF NOT EXISTS inv_reservations (
    key TEXT PRIMARY KEY, sku TEXT NOT NULL, qty INTEGER NOT NULL, state TEXT NOT NULL, applied INTEGER NOT NULL);
""",
    "shop.payment": """
CREATE TABLE IF NOT EXISTS pay_accounts (account TEXT PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0));
CREATE TABLE IF NOT EXISTS pay_charges (key TEXT PRIMARY KEY, account TEXT NOT NULL, amount INTEGER NOT NULL);
""",
    "shop.orders": """
CREATE TABLE IF NOT EXISTS ord_orders (order_id TEXT PRIMARY KEY, state TEXT NOT NULL, confirmations INTEGER NOT NULL);
""",
}


def _same(result: dict[str, Any]) -> dict[str, Any]:
    return result


class Service:
    """One service on its own location: its commands run through the idempotency rule (the inbox)."""

    schema = ""

    def __init__(self, db: Database) -> None:
        self.location = Location.over(db, name=self.schema)
        db.ensure_schema(self.schema, lambda _dialect: _DDL[self.schema])
        self.commands = CommandHandler(self.location)

    def command(self, name: str, key: str, content: Mapping[str, Any], body: Callable[[Work], dict[str, Any]]) -> Any:
        """Run command `name` once per `key` (a duplicate gets the stored answer)."""
        scope = Scope(self.schema.replace("shop.", ""), "all")
        return self.commands.run(name, scope, body, encode=_same, decode=_same, key=key, content=content)

    def upsert(self, table: str, key: str, column: str, values: tuple[str, int]) -> None:
        """Set `column` of the row of `table` keyed `values[0]` to `values[1]` (setting up stock and balances)."""
        with self.location.db.transaction() as tx:
            tx.execute(
                f"INSERT INTO {table} ({key}, {column}) VALUES (?, ?) "
                f"ON CONFLICT ({key}) DO UPDATE SET {column} = excluded.{column}",
                values,
            )

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Rows of a query on this service's store."""
        with self.location.db.read() as tx:
            return list(tx.query(sql, params))


class Inventory(Service):
    """Stock per SKU; a reservation holds stock until it is released (a release may arrive before its reserve)."""

    schema = "shop.inventory"

    def stock(self, sku: str, available: int) -> None:
        """Set the available stock of `sku`."""
        self.upsert("inv_stock", "sku", "available", (sku, available))

    def reserve(self, key: str, sku: str, qty: int) -> dict[str, Any]:
        """Hold `qty` of `sku` under `key`; declined when short, or when its release came first."""

        def body(tx: Work) -> dict[str, Any]:
            held = tx.one("SELECT state FROM inv_reservations WHERE key = ?", (key,))
            if held is not None:  # its compensation arrived first (a reordered delivery): never hold it now
                return {"ok": False, "reason": f"reservation {key} was released before it arrived"}
            row = tx.one("SELECT available FROM inv_stock WHERE sku = ?", (sku,))
            if row is None or int(row[0]) < qty:
                return {"ok": False, "reason": f"only {0 if row is None else row[0]} of {sku} left"}
            tx.execute("UPDATE inv_stock SET available = available - ? WHERE sku = ?", (qty, sku))
            tx.execute(
                "INSERT INTO inv_reservations (key, sku, qty, state, applied) VALUES (?, ?, ?, 'held', 1)",
                (key, sku, qty),
            )
            return {"ok": True, "reservation": key, "qty": qty}

        return dict(self.command("reserve", key, {"sku": sku, "qty": qty}, body))

    def release(self, key: str, reservation: str) -> dict[str, Any]:
        """Give back what `reservation` holds (nothing if it never arrived: a tombstone refuses it later)."""

        def body(tx: Work) -> dict[str, Any]:
            row = tx.one("SELECT sku, qty, state FROM inv_reservations WHERE key = ?", (reservation,))
            if row is None:
                tx.execute(
                    "INSERT INTO inv_reservations (key, sku, qty, state, applied) VALUES (?, '', 0, 'released', 0)",
                    (reservation,),
                )
                return {"released": 0}
            if row[2] == "released":
                return {"released": 0}
            tx.execute("UPDATE inv_stock SET available = available + ? WHERE sku = ?", (row[1], row[0]))
            tx.execute("UPDATE inv_reservations SET state = 'released' WHERE key = ?", (reservation,))
            return {"released": int(row[1])}

        return dict(self.command("release", key, {"reservation": reservation}, body))

    def available(self, sku: str) -> int:
        """The stock of `sku` not held."""
        return int(self.read("SELECT available FROM inv_stock WHERE sku = ?", (sku,))[0][0])

    def held(self) -> int:
        """The quantity held by reservations not released."""
        return int(self.read("SELECT COALESCE(SUM(qty), 0) FROM inv_reservations WHERE state = 'held'")[0][0])


class Payment(Service):
    """Accounts with balances; a charge takes money once per key (declined when short)."""

    schema = "shop.payment"

    def fund(self, account: str, balance: int) -> None:
        """Set the balance of `account`."""
        self.upsert("pay_accounts", "account", "balance", (account, balance))

    def charge(self, key: str, account: str, amount: int) -> dict[str, Any]:
        """Charge `amount` to `account` under `key`."""

        def body(tx: Work) -> dict[str, Any]:
            row = tx.one("SELECT balance FROM pay_accounts WHERE account = ?", (account,))
            if row is None or int(row[0]) < amount:
                return {"ok": False, "reason": f"account {account} cannot pay {amount}"}
            tx.execute("UPDATE pay_accounts SET balance = balance - ? WHERE account = ?", (amount, account))
            tx.execute("INSERT INTO pay_charges (key, account, amount) VALUES (?, ?, ?)", (key, account, amount))
            return {"ok": True, "charge": key}

        return dict(self.command("charge", key, {"account": account, "amount": amount}, body))

    def charges(self) -> dict[str, int]:
        """Every charge's amount by key."""
        return {str(k): int(a) for k, a in self.read("SELECT key, amount FROM pay_charges")}


class Orders(Service):
    """Orders confirmed once each."""

    schema = "shop.orders"

    def confirm(self, key: str, order_id: str) -> dict[str, Any]:
        """Mark `order_id` confirmed (once per key)."""

        def body(tx: Work) -> dict[str, Any]:
            tx.execute(
                "INSERT INTO ord_orders (order_id, state, confirmations) VALUES (?, 'confirmed', 1) "
                "ON CONFLICT (order_id) DO UPDATE SET confirmations = ord_orders.confirmations + 1",
                (order_id,),
            )
            return {"confirmed": order_id}

        return dict(self.command("confirm", key, {"order_id": order_id}, body))

    def confirmed(self) -> dict[str, int]:
        """Confirmations per order id."""
        return {str(o): int(n) for o, n in self.read("SELECT order_id, confirmations FROM ord_orders")}


@dataclass
class Faults:
    """Per step, what each attempt does: ``ok``, ``slow`` (applied after the timeout: reordered), ``lost`` (applied,
    the answer lost past the timeout), ``down`` (refused before anything is applied), ``crash`` (applied, then an
    error).
    """

    plan: dict[str, list[str]] = field(default_factory=dict)
    delay: float = 0.6

    def wrap(self, name: str, action: Action) -> Action:
        """Return `action` with the faults planned for step `name` (the compensation's name ends with ``.undo``)."""

        def faulty(call: StepCall) -> Mapping[str, Any]:
            plan = self.plan.get(name, [])
            fault = plan[call.attempt - 1] if call.attempt <= len(plan) else "ok"
            if fault == "down":
                raise ConnectionError(f"{name} is down")
            if fault == "slow":
                time.sleep(self.delay)
            answer = action(call)
            if fault == "lost":
                time.sleep(self.delay)
            if fault == "crash":
                raise ConnectionResetError(f"{name} answered, but the connection dropped")
            return answer

        return faulty


@dataclass
class Shop:
    """The three services and the order saga over them."""

    inventory: Inventory
    payment: Payment
    orders: Orders
    faults: Faults = field(default_factory=Faults)

    def definition(self, *, timeout: float = 0.4, attempts: int = 3) -> SagaDefinition:
        """The order saga: reserve (undo: release) → charge (pivot) → confirm (retriable)."""
        retry = RetryPolicy(initial=0.005, maximum=0.02, attempts=attempts)

        def reserve(call: StepCall) -> Mapping[str, Any]:
            answer = self.inventory.reserve(call.key, str(call.input["sku"]), int(call.input["qty"]))
            if not answer["ok"]:
                raise StepDeclined(str(answer["reason"]))
            return answer

        def release(call: StepCall) -> Mapping[str, Any]:
            assert call.undoes is not None
            return self.inventory.release(call.key, call.undoes)

        def charge(call: StepCall) -> Mapping[str, Any]:
            answer = self.payment.charge(call.key, str(call.input["account"]), int(call.input["amount"]))
            if not answer["ok"]:
                raise StepDeclined(str(answer["reason"]))
            return answer

        def confirm(call: StepCall) -> Mapping[str, Any]:
            return self.orders.confirm(call.key, call.saga_id)

        f = self.faults.wrap
        return SagaDefinition(
            "order",
            [
                Step.compensatable(
                    "reserve", f("reserve", reserve), f("reserve.undo", release), timeout=timeout, retry=retry
                ),
                Step.pivot("charge", f("charge", charge), timeout=timeout, retry=retry),
                Step.retriable("confirm", f("confirm", confirm), timeout=timeout, retry=retry),
            ],
        )


def open_shop(urls: Mapping[str, str], open_db: Callable[[str], Database]) -> Shop:
    """Open the three services on the stores `urls` names (``inventory``, ``payment``, ``orders``)."""
    return Shop(
        Inventory(open_db(urls["inventory"])), Payment(open_db(urls["payment"])), Orders(open_db(urls["orders"]))
    )
