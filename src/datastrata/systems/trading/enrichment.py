"""New York's enrichment: a projection of each shard's raw events that emits business events into that shard's log.

It keeps its own books (average-cost lots, cash, realised profit, last prices) on the shard, and appends the
business events in the follower's transaction, with its checkpoint: each raw event is enriched exactly once, and a
replay appends nothing new (business event ids derive from the raw event's id). The shard's log is the outbox the
forwarder relays to Singapore.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from datastrata.core.events import Event, NewEvent
from datastrata.eventlog.log import EventLog
from datastrata.runtime.scope import Scope
from datastrata.sharding.slots import slot_of
from datastrata.stores.database import Database, Tx
from datastrata.systems.trading.domain import (
    FUNDS_DEPOSITED,
    PORTFOLIO_VALUED,
    PROFIT_CALCULATED,
    RAW_EVENTS,
    RISK_BREACHED,
    TRADE_EXECUTED,
    Lot,
    money,
    risks,
    trade_into,
)
from datastrata.systems.trading.schema import NEW_YORK

#: The follower's name (one per shard: ``trading.enrichment@shard-N``).
NAME = "trading.enrichment"
#: The context of the business events' streams (``trading.insights-<user>``, on the user's shard).
INSIGHTS = "trading.insights"
_IDS = uuid.UUID("74726164-0000-4000-8000-000000000016")


def business_id(source: str, n: int) -> str:
    """The id of the `n`-th business event made from raw event `source` (stable: a replay makes the same)."""
    return str(uuid.uuid5(_IDS, f"{source}\x1f{n}"))


class Enrichment:
    """Folds ``TradeExecuted`` and ``FundsDeposited`` into the books and appends the business events they mean."""

    name = NAME
    event_types: frozenset[str] | None = RAW_EVENTS

    def __init__(self, log: EventLog) -> None:
        self.log = log

    def setup(self, db: Database) -> None:
        """The books are New York's tables (migrated with it)."""
        db.ensure(NEW_YORK)

    def clear(self, tx: Tx) -> None:
        """Forget the books before a replay (the business events stay: a replay appends the same ids, a no-op)."""
        for table in ("trading_lots", "trading_books", "trading_marks"):
            tx.execute(f"DELETE FROM {table}")

    def apply(self, tx: Tx, event: Event) -> None:
        """Enrich one raw event."""
        user = str(event.payload["user_id"])
        tenant = event.tenant_id
        cash, realised_total = self._book(tx, tenant, user)
        emitted: list[tuple[str, dict[str, Any]]] = []
        if event.type == FUNDS_DEPOSITED:
            cash += Decimal(str(event.payload["amount"]))
        elif event.type == TRADE_EXECUTED:
            symbol, side = str(event.payload["symbol"]), str(event.payload["side"])
            qty, at = Decimal(str(event.payload["quantity"])), Decimal(str(event.payload["price"]))
            lot = self._lot(tx, tenant, user, symbol)
            lot, realised = trade_into(lot, side, qty, at)
            cash += qty * at if side == "sell" else -(qty * at)
            realised_total += realised
            self._save_lot(tx, tenant, user, symbol, lot)
            tx.execute(
                "INSERT INTO trading_marks (tenant_id, symbol, price) VALUES (?, ?, ?) "
                "ON CONFLICT (tenant_id, symbol) DO UPDATE SET price = excluded.price",
                (tenant, symbol, str(at)),
            )
            emitted.append((PROFIT_CALCULATED, {
                "trade_id": event.payload["trade_id"], "user_id": user, "symbol": symbol, "side": side,
                "quantity": money(qty), "price": money(at), "position_quantity": money(lot.quantity),
                "average_cost": money(lot.average), "realised": money(realised),
                "unrealised": money(lot.unrealised),
            }))  # fmt: skip
        self._save_book(tx, tenant, user, cash, realised_total)
        lots = self._lots(tx, tenant, user)
        positions_value = sum((lot.value for lot in lots.values()), Decimal(0))
        total = cash + positions_value
        emitted.append((PORTFOLIO_VALUED, {
            "user_id": user, "cash": money(cash), "positions_value": money(positions_value),
            "total_value": money(total), "realised": money(realised_total),
            "unrealised": money(sum((lot.unrealised for lot in lots.values()), Decimal(0))),
        }))  # fmt: skip
        if event.type == TRADE_EXECUTED:  # the traded position's rules (a deposit breaks none)
            symbol = str(event.payload["symbol"])
            if symbol in lots:
                for breach in risks(symbol, lots[symbol], total):
                    emitted.append((RISK_BREACHED, {"user_id": user, "trade_id": event.payload["trade_id"], **breach}))
        meta = {"source_event": event.event_id, "source_at": event.recorded_at.isoformat()}
        news = [
            NewEvent(kind, payload, event_id=business_id(event.event_id, n), occurred_at=event.occurred_at,
                     metadata=meta)
            for n, (kind, payload) in enumerate(emitted)
        ]  # fmt: skip
        self.log.append_in(tx, Scope(INSIGHTS, user, tenant).stream_id, news, tenant=tenant)

    def _book(self, tx: Tx, tenant: str, user: str) -> tuple[Decimal, Decimal]:
        row = tx.one("SELECT cash, realised FROM trading_books WHERE tenant_id = ? AND user_id = ?", (tenant, user))
        return (Decimal(0), Decimal(0)) if row is None else (Decimal(str(row[0])), Decimal(str(row[1])))

    def _save_book(self, tx: Tx, tenant: str, user: str, cash: Decimal, realised: Decimal) -> None:
        tx.execute(
            "INSERT INTO trading_books (tenant_id, user_id, shard_key, shard_slot, cash, realised) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, user_id) "
            "DO UPDATE SET cash = excluded.cash, realised = excluded.realised",
            (tenant, user, user, slot_of(user), str(cash), str(realised)),
        )

    def _lot(self, tx: Tx, tenant: str, user: str, symbol: str) -> Lot:
        row = tx.one(
            "SELECT quantity, cost FROM trading_lots WHERE tenant_id = ? AND user_id = ? AND symbol = ?",
            (tenant, user, symbol),
        )
        if row is None:
            return Lot(Decimal(0), Decimal(0), Decimal(0))
        return Lot(Decimal(str(row[0])), Decimal(str(row[1])), Decimal(0))

    def _save_lot(self, tx: Tx, tenant: str, user: str, symbol: str, lot: Lot) -> None:
        tx.execute(
            "INSERT INTO trading_lots (tenant_id, user_id, symbol, shard_key, shard_slot, quantity, cost) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, user_id, symbol) "
            "DO UPDATE SET quantity = excluded.quantity, cost = excluded.cost",
            (tenant, user, symbol, user, slot_of(user), str(lot.quantity), str(lot.cost)),
        )

    def _lots(self, tx: Tx, tenant: str, user: str) -> Mapping[str, Lot]:
        """The user's open positions, each at the last price traded on this shard."""
        rows = tx.query(
            "SELECT l.symbol, l.quantity, l.cost, m.price FROM trading_lots l JOIN trading_marks m "
            "ON m.tenant_id = l.tenant_id AND m.symbol = l.symbol WHERE l.tenant_id = ? AND l.user_id = ?",
            (tenant, user),
        )
        lots = {str(r[0]): Lot(Decimal(str(r[1])), Decimal(str(r[2])), Decimal(str(r[3]))) for r in rows}
        return {symbol: lot for symbol, lot in lots.items() if lot.quantity}
