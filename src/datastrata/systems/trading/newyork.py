"""New York: the only write entry point. Accounts sharded by user id; an order is one transaction on its shard.

The region is a :class:`Runtime` whose placement is ``by_shard`` over the shard locations, routed by the stored
shard map ``trading`` (epoch 1: a jump hash over the shards' slots), with a home location for the rest. An order
checks and moves the account's cash and position and appends ``TradeExecuted`` to the account's stream in the
shard's log, in one transaction; the account row's version (the stream's) makes a concurrent order on the same
account retry rather than overspend or sell short.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from datastrata.core.clock import Clock, system_clock
from datastrata.core.config import Settings
from datastrata.core.errors import ConcurrencyConflict, NotFound, RuleViolation
from datastrata.core.events import NewEvent
from datastrata.core.ids import new_id
from datastrata.eventlog.checkpoints import Lag
from datastrata.messaging.delivery import DeadLetters
from datastrata.projections.follower import LogFollower
from datastrata.projections.runner import ProjectionRunner
from datastrata.runtime.location import Work
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.runtime.supervisor import Supervisor
from datastrata.runtime.tenants import TenantDirectory
from datastrata.sharding.names import numbered
from datastrata.sharding.opening import OpenMap, open_map
from datastrata.sharding.slots import slot_of
from datastrata.stores.database import time_to_db
from datastrata.systems.trading.domain import BUY, FUNDS_DEPOSITED, TRADE_EXECUTED, Order, execute, money
from datastrata.systems.trading.enrichment import INSIGHTS, NAME, Enrichment
from datastrata.systems.trading.schema import NEW_YORK
from datastrata.systems.trading.threads import start_each
from datastrata.systems.trading.topology import Topology
from datastrata.writes.commands import CommandHandler

#: The sharded context of accounts (streams ``trading-<user>``).
CONTEXT = "trading"
#: The stored shard map New York routes accounts by.
MAP = "trading"


@dataclass(frozen=True, slots=True)
class Trade:
    """An executed order as New York recorded it, and where: the shard, the map epoch, the log position."""

    trade_id: str
    order_id: str
    user: str
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    cash: Decimal
    position: Decimal
    shard: str
    epoch: int
    token: int
    log: str
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape (amounts as exact decimal text)."""
        return {
            "trade_id": self.trade_id, "order_id": self.order_id, "user": self.user, "symbol": self.symbol,
            "side": self.side, "quantity": money(self.quantity), "price": money(self.price),
            "cash": money(self.cash), "position": money(self.position), "shard": self.shard, "epoch": self.epoch,
            "token": self.token, "log": self.log, "duplicate": self.duplicate,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, duplicate: bool = False) -> Trade:
        """Rebuild a trade from :meth:`to_dict` (a stored idempotent result, or New York's answer over the link)."""
        return cls(
            str(data["trade_id"]), str(data["order_id"]), str(data["user"]), str(data["symbol"]), str(data["side"]),
            Decimal(str(data["quantity"])), Decimal(str(data["price"])), Decimal(str(data["cash"])),
            Decimal(str(data["position"])), str(data["shard"]), int(data["epoch"]), int(data["token"]),
            str(data["log"]), duplicate or bool(data.get("duplicate", False)),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Deposited:
    """A deposit as recorded: the account's cash after it."""

    user: str
    amount: Decimal
    cash: Decimal
    shard: str
    token: int
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape."""
        return {"user": self.user, "amount": money(self.amount), "cash": money(self.cash), "shard": self.shard,
                "token": self.token, "duplicate": self.duplicate}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, duplicate: bool = False) -> Deposited:
        """Rebuild from :meth:`to_dict`."""
        return cls(str(data["user"]), Decimal(str(data["amount"])), Decimal(str(data["cash"])), str(data["shard"]),
                   int(data["token"]), duplicate or bool(data.get("duplicate", False)))  # fmt: skip


def open_accounts(topology: Topology, settings: Settings) -> OpenMap:
    """Open New York's shard map ``trading``: the topology's shards when it names them, else ``shard_count``
    shards the catalogue provisions (``shard-0`` …); epoch 1 is a jump hash over them, a reshard switches it."""
    names = numbered(topology.shard_count, prefix="shard-")
    stores = {name: spec.store for name, spec in topology.shards.items()}
    return open_map(settings, MAP, topology.home, names, contexts=(CONTEXT, INSIGHTS), stores=stores)


class NewYork:
    """New York's region: the sharded account store, its commands, strong reads and the enrichment per shard.

    `settings` carries the roles and provisioning URL the shard catalogue creates PostgreSQL shards with.
    """

    def __init__(
        self,
        topology: Topology,
        *,
        settings: Settings | None = None,
        tenants: TenantDirectory | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.topology = topology
        base = settings or Settings()
        settings = dataclasses.replace(
            base, store=topology.home.store, bus="memory://", cache="memory://", platform_store="", direct_store=""
        )
        self._accounts = open_accounts(topology, settings)
        self.placement = placement = self._accounts.placement
        try:
            self.runtime = Runtime.open(settings, placement=placement, clock=clock, tenants=tenants)
        except BaseException:
            self._accounts.close()
            raise
        self.clock = self.runtime.clock
        self.runtime.ensure(NEW_YORK)  # every shard, and the home (the same tables, empty there)
        self.commands = CommandHandler(self.runtime)
        # One enrichment per location's log (``trading.enrichment@shard-N``), built as each shard takes its turn,
        # each in a failure boundary of its own so that, in the background, each shard commits in its own thread.
        self.runtime.follow(NAME, lambda log: ProjectionRunner(log, Enrichment(log)))
        self.runtime.take_turns()
        letters = DeadLetters(self.runtime.platform.db, clock=self.clock)
        self.enrichers: dict[str, Supervisor] = {}
        for spec in placement.all()[1:]:
            name = f"{NAME}@{spec.name}"
            runner = self.runtime.runners[name]
            assert isinstance(runner, LogFollower)
            supervisor = Supervisor(letters, clock=self.clock, base_delay=0.05, max_delay=1.0)
            supervisor.follower(runner, kind=runner.kind, name=name)
            self.enrichers[spec.name] = supervisor

    def scope(self, user: str) -> Scope:
        """The scope of `user`'s account (the caller's tenant)."""
        return Scope.of(CONTEXT, user)

    def deposit(self, user: str, amount: Decimal, *, key: str | None = None) -> Deposited:
        """Credit `amount` to `user`'s account (opening it): one transaction on the user's shard."""
        scope = self.scope(user)
        shard = self.placement.route(user).shard

        def body(work: Work) -> Deposited:
            row = work.one(
                "SELECT cash, version FROM trading_accounts WHERE tenant_id = ? AND user_id = ?", (scope.tenant, user)
            )
            cash, version = (Decimal(0), 0) if row is None else (Decimal(str(row[0])), int(row[1]))
            if row is None:
                work.execute(
                    "INSERT INTO trading_accounts (tenant_id, user_id, shard_key, shard_slot, cash, version) "
                    "VALUES (?, ?, ?, ?, ?, 1)",
                    (scope.tenant, user, user, slot_of(user), str(amount)),
                )
            else:
                self._bump(work, scope, cash + amount, version)
            event = NewEvent(FUNDS_DEPOSITED, {"user_id": user, "amount": money(amount)})
            appended = work.append([event], expected_version=version)
            return Deposited(user, amount, cash + amount, shard, appended.events[-1].position)

        return self.commands.run(
            "deposit", scope, body, encode=Deposited.to_dict,
            decode=lambda d: Deposited.from_dict(d, duplicate=True), key=key,
            content={"user": user, "amount": str(amount)}, key_field="deposit_id",
        )  # fmt: skip

    def place(self, order: Order) -> Trade:
        """Execute `order` on its user's shard: check and move cash and position, record the trade and its event."""
        scope = self.scope(order.user)
        routed = self.placement.route(order.user)

        def body(work: Work) -> Trade:
            row = work.one(
                "SELECT cash, version FROM trading_accounts WHERE tenant_id = ? AND user_id = ?",
                (scope.tenant, order.user),
            )
            if row is None:
                raise RuleViolation(
                    f"{order.user} has no account in New York; deposit cash first "
                    f"(`datastrata trading deposit {order.user} 1000`)",
                    field="user",
                )
            cash, version = Decimal(str(row[0])), int(row[1])
            held_row = work.one(
                "SELECT quantity FROM trading_positions WHERE tenant_id = ? AND user_id = ? AND symbol = ?",
                (scope.tenant, order.user, order.symbol),
            )
            held = Decimal(0) if held_row is None else Decimal(str(held_row[0]))
            cash_after, held_after = execute(order, cash, held)
            self._bump(work, scope, cash_after, version)
            work.execute(
                "INSERT INTO trading_positions (tenant_id, user_id, symbol, shard_key, shard_slot, quantity) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, user_id, symbol) "
                "DO UPDATE SET quantity = excluded.quantity",
                (scope.tenant, order.user, order.symbol, order.user, slot_of(order.user), str(held_after)),
            )
            trade_id = new_id()
            now: datetime = self.clock()
            work.execute(
                "INSERT INTO trading_trades (tenant_id, trade_id, order_id, user_id, shard_key, shard_slot, symbol, "
                "side, quantity, price, executed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (scope.tenant, trade_id, order.order_id, order.user, order.user, slot_of(order.user), order.symbol,
                 order.side, str(order.quantity), str(order.price), time_to_db(work.dialect, now)),
            )  # fmt: skip
            event = NewEvent(TRADE_EXECUTED, {
                "trade_id": trade_id, "user_id": order.user, "symbol": order.symbol, "quantity": money(order.quantity),
                "price": money(order.price), "side": order.side, "order_id": order.order_id,
            }, occurred_at=now)  # fmt: skip
            appended = work.append([event], expected_version=version)
            return Trade(trade_id, order.order_id, order.user, order.symbol, order.side, order.quantity, order.price,
                         cash_after, held_after, routed.shard, routed.epoch, appended.events[-1].position,
                         work.log.identity)  # fmt: skip

        return self.commands.run(
            "order", scope, body, encode=Trade.to_dict, decode=lambda d: Trade.from_dict(d, duplicate=True),
            key=order.order_id, content=order.content(), key_field="order_id",
        )  # fmt: skip

    def _bump(self, work: Work, scope: Scope, cash: Decimal, version: int) -> None:
        """Write the account's cash if nobody changed it since it was read (else the command is retried)."""
        cursor = work.execute(
            "UPDATE trading_accounts SET cash = ?, version = version + 1 "
            "WHERE tenant_id = ? AND user_id = ? AND version = ?",
            (str(cash), scope.tenant, scope.key, version),
        )
        if cursor.rowcount != 1:
            raise ConcurrencyConflict(
                f"account {scope.key} changed while the order was checked; it is retried",
                stream_id=scope.stream_id,
                expected=version,
            )

    def account(self, user: str) -> dict[str, Any]:
        """New York's record of `user`: cash, positions and the latest trades (a strong read on the user's shard)."""
        scope = self.scope(user)
        with self.runtime.read(scope) as work:
            row = work.one(
                "SELECT cash, version FROM trading_accounts WHERE tenant_id = ? AND user_id = ?", (scope.tenant, user)
            )
            if row is None:
                raise NotFound(f"{user} has no account in New York; deposit cash first", field="user")
            positions = work.query(
                "SELECT symbol, quantity FROM trading_positions WHERE tenant_id = ? AND user_id = ? ORDER BY symbol",
                (scope.tenant, user),
            )
            trades = work.query(
                "SELECT trade_id, symbol, side, quantity, price FROM trading_trades "
                "WHERE tenant_id = ? AND user_id = ? ORDER BY executed_at DESC, trade_id LIMIT 20",
                (scope.tenant, user),
            )
        return {
            "user": user,
            "shard": self.placement.route(user).shard,
            "cash": money(Decimal(str(row[0]))),
            "version": int(row[1]),
            "positions": [{"symbol": str(r[0]), "quantity": money(Decimal(str(r[1])))} for r in positions
                          if Decimal(str(r[1]))],
            "trades": [{"trade_id": str(r[0]), "symbol": str(r[1]), "side": str(r[2]),
                        "quantity": money(Decimal(str(r[3]))), "price": money(Decimal(str(r[4])))} for r in trades],
        }  # fmt: skip

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        """Run each shard's enrichment in a background thread of its own until `stop` is set."""
        return start_each(self.enrichers, stop, what="enrich")

    def run_once(self) -> int:
        """One round of every shard's enrichment, in turn; the events applied."""
        with self.runtime.as_platform():
            return sum(supervisor.run_once() for supervisor in self.enrichers.values())

    def lags(self) -> list[Lag]:
        """Each shard enrichment's place in its log."""
        return [lag for supervisor in self.enrichers.values() for lag in _lags(supervisor)]

    def close(self) -> None:
        """Close the region's stores."""
        try:
            self.runtime.close()
        finally:
            self._accounts.close()


def _lags(supervisor: Supervisor) -> list[Lag]:
    return [Lag(s.name, s.position, s.head or 0, s.behind or 0) for s in supervisor.statuses(fresh=True)
            if s.position is not None]  # fmt: skip


__all__ = ["BUY", "CONTEXT", "Deposited", "NewYork", "Trade"]
