"""Singapore: the query-model service. Business events from New York land in a local, denormalised read model.

Each page the forwarder carries is applied in one transaction of Singapore's own store, each event through the inbox
(its id recorded with its effect), so a page carried twice — its answer lost to a cut link — changes nothing the
second time. Reads never leave the region. Quotes come from the market tick stream: the last tick per symbol wins.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from datastrata.core.clock import Clock, system_clock
from datastrata.core.events import Event
from datastrata.core.tenancy import current_tenant
from datastrata.messaging.inbox import Inbox
from datastrata.runtime.location import Location, LocationSpec
from datastrata.runtime.scope import Scope
from datastrata.stores.database import Tx, time_from_db, time_to_db
from datastrata.systems.trading.domain import PORTFOLIO_VALUED, PROFIT_CALCULATED, RISK_BREACHED, money
from datastrata.systems.trading.schema import SINGAPORE

#: The consumer name Singapore's inbox records business events under.
CONSUMER = "trading.singapore"
#: The most alerts a read returns.
MAX_ALERTS = 500


@dataclass(frozen=True, slots=True)
class Tick:
    """One market tick: a symbol's price at a moment (nanoseconds; a later tick replaces an earlier one)."""

    symbol: str
    price: Decimal
    at: int


class Singapore:
    """Singapore's region: its store, the inbox-guarded read model of business events and the latest quotes."""

    def __init__(self, spec: LocationSpec, *, clock: Clock = system_clock) -> None:
        self.location = Location.open(spec, clock=clock)
        self.clock = clock
        try:
            self.location.ensure(SINGAPORE)
            self.inbox = Inbox(self.location)
        except BaseException:
            self.location.close()
            raise
        #: Business events applied, and pages whose events had all been applied before (a re-sent page).
        self.applied = 0
        self.repeats = 0
        self._counting = threading.Lock()
        #: Called with each page's newly applied events once their transaction committed (measurements).
        self.observe: Callable[[Sequence[Event]], None] | None = None

    def receive(self, events: Sequence[Event]) -> int:
        """Apply a page of business events in one transaction, each at most once; return how many were new."""
        applied: list[Event] = []
        now = self.clock()
        with self.location.transaction(Scope.of(CONSUMER)) as tx:
            for event in events:
                if self.inbox.first_time(tx, CONSUMER, event.event_id, tenant=event.tenant_id):
                    self._apply(tx, event, now)
                    applied.append(event)
        fresh = len(applied)
        with self._counting:  # pages arrive on several threads (one per New York shard)
            self.applied += fresh
            self.repeats += 1 if events and not fresh else 0
        if self.observe is not None and applied:
            self.observe(applied)
        return fresh

    def _apply(self, tx: Tx, event: Event, now: datetime) -> None:
        p, tenant, stamp = event.payload, event.tenant_id, time_to_db(tx.dialect, now)
        if event.type == PROFIT_CALCULATED:
            tx.execute(
                "INSERT INTO trading_sg_positions (tenant_id, user_id, symbol, quantity, average_cost, mark, "
                "unrealised, realised, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, user_id, symbol) DO UPDATE SET quantity = excluded.quantity, "
                "average_cost = excluded.average_cost, mark = excluded.mark, unrealised = excluded.unrealised, "
                "realised = excluded.realised, updated_at = excluded.updated_at",
                (tenant, p["user_id"], p["symbol"], p["position_quantity"], p["average_cost"], p["price"],
                 p["unrealised"], str(self._realised(tx, tenant, p) + Decimal(str(p["realised"]))), stamp),
            )  # fmt: skip
        elif event.type == PORTFOLIO_VALUED:
            source = time_to_db(tx.dialect, datetime.fromisoformat(str(event.metadata["source_at"])))
            tx.execute(
                "INSERT INTO trading_sg_pnl (tenant_id, user_id, cash, positions_value, total_value, realised, "
                "unrealised, source_at, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, user_id) DO UPDATE SET cash = excluded.cash, "
                "positions_value = excluded.positions_value, total_value = excluded.total_value, "
                "realised = excluded.realised, unrealised = excluded.unrealised, source_at = excluded.source_at, "
                "applied_at = excluded.applied_at",
                (tenant, p["user_id"], p["cash"], p["positions_value"], p["total_value"], p["realised"],
                 p["unrealised"], source, stamp),
            )  # fmt: skip
        elif event.type == RISK_BREACHED:
            tx.execute(
                "INSERT INTO trading_sg_alerts (tenant_id, alert_id, user_id, rule, symbol, level, threshold, "
                "raised_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, alert_id) DO NOTHING",
                (tenant, event.event_id, p["user_id"], p["rule"], p["symbol"], p["level"], p["limit"],
                 time_to_db(tx.dialect, event.recorded_at)),
            )  # fmt: skip

    def _realised(self, tx: Tx, tenant: str, p: Any) -> Decimal:
        row = tx.one(
            "SELECT realised FROM trading_sg_positions WHERE tenant_id = ? AND user_id = ? AND symbol = ?",
            (tenant, p["user_id"], p["symbol"]),
        )
        return Decimal(0) if row is None else Decimal(str(row[0]))

    # ---- reads (local: no link) ------------------------------------------------------------------------------

    def positions(self, user: str) -> list[dict[str, Any]]:
        """`user`'s open positions, each valued at the latest local quote (else the last trade's price)."""
        with self.location.read(Scope.of(CONSUMER)) as tx:
            rows = tx.query(
                "SELECT p.symbol, p.quantity, p.average_cost, p.mark, p.realised, q.price FROM trading_sg_positions p "
                "LEFT JOIN trading_sg_quotes q ON q.symbol = p.symbol "
                "WHERE p.tenant_id = ? AND p.user_id = ? ORDER BY p.symbol",
                (current_tenant(), user),
            )
        found = []
        for symbol, qty, avg, mark, realised, quote in rows:
            quantity, average = Decimal(str(qty)), Decimal(str(avg))
            at = Decimal(str(quote if quote is not None else mark))
            found.append({
                "symbol": str(symbol), "quantity": money(quantity), "average_cost": money(average),
                "price": money(at), "quoted": quote is not None, "market_value": money(quantity * at),
                "unrealised": money(quantity * (at - average)), "realised": money(Decimal(str(realised))),
            })  # fmt: skip
        return found

    def pnl(self, user: str) -> dict[str, Any]:
        """`user`'s portfolio value and profit as New York's enrichment last reported it (zeros: nothing yet)."""
        with self.location.read(Scope.of(CONSUMER)) as tx:
            row = tx.one(
                "SELECT cash, positions_value, total_value, realised, unrealised, source_at, applied_at "
                "FROM trading_sg_pnl WHERE tenant_id = ? AND user_id = ?",
                (current_tenant(), user),
            )
        if row is None:
            return {"user": user, "cash": "0", "positions_value": "0", "total_value": "0", "realised": "0",
                    "unrealised": "0", "recorded_in_new_york_at": None, "applied_in_singapore_at": None}  # fmt: skip
        names = ("cash", "positions_value", "total_value", "realised", "unrealised")
        shown: dict[str, Any] = {
            "user": user,
            **{n: money(Decimal(str(v))) for n, v in zip(names, row[:5], strict=True)},
        }
        shown["recorded_in_new_york_at"] = time_from_db(row[5]).isoformat()
        shown["applied_in_singapore_at"] = time_from_db(row[6]).isoformat()
        return shown

    def alerts(self, user: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """`user`'s risk alerts, newest first."""
        with self.location.read(Scope.of(CONSUMER)) as tx:
            rows = tx.query(
                "SELECT alert_id, rule, symbol, level, threshold, raised_at FROM trading_sg_alerts "
                "WHERE tenant_id = ? AND user_id = ? ORDER BY raised_at DESC, alert_id LIMIT ?",
                (current_tenant(), user, min(limit, MAX_ALERTS)),
            )
        return [
            {"alert_id": str(r[0]), "rule": str(r[1]), "symbol": str(r[2]), "level": money(Decimal(str(r[3]))),
             "threshold": money(Decimal(str(r[4]))), "raised_at": time_from_db(r[5]).isoformat()}
            for r in rows
        ]  # fmt: skip

    def quotes(self) -> list[dict[str, Any]]:
        """The latest quote of every symbol seen on the tick stream."""
        with self.location.read(Scope.of(CONSUMER)) as tx:
            rows = tx.query("SELECT symbol, price, tick_at FROM trading_sg_quotes ORDER BY symbol")
        return [{"symbol": str(r[0]), "price": money(Decimal(str(r[1]))), "tick_at": int(r[2])} for r in rows]

    def record_ticks(self, ticks: Iterable[Tick]) -> int:
        """Upsert a batch of ticks in one transaction, the latest tick per symbol winning; return symbols written."""
        latest: dict[str, Tick] = {}
        for tick in ticks:
            held = latest.get(tick.symbol)
            if held is None or tick.at >= held.at:
                latest[tick.symbol] = tick
        if not latest:
            return 0
        with self.location.transaction(Scope.of(CONSUMER)) as tx:
            stamp = time_to_db(tx.dialect, self.clock())
            tx.executemany(
                "INSERT INTO trading_sg_quotes (symbol, price, tick_at, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (symbol) DO UPDATE SET price = excluded.price, tick_at = excluded.tick_at, "
                "updated_at = excluded.updated_at WHERE excluded.tick_at >= trading_sg_quotes.tick_at",
                [(t.symbol, str(t.price), t.at, stamp) for t in latest.values()],
            )
        return len(latest)

    def staleness(self) -> list[float]:
        """Seconds from New York's commit to Singapore's apply of each user's last portfolio update (measurement)."""
        with self.location.read(Scope.of(CONSUMER)) as tx:
            rows = tx.query("SELECT source_at, applied_at FROM trading_sg_pnl")
        return [(time_from_db(b) - time_from_db(a)).total_seconds() for a, b in rows]

    def close(self) -> None:
        """Close Singapore's store."""
        self.location.close()
