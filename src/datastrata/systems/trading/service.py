"""The trading system in one process: New York, Singapore and the link between them, with commands and reads.

A command from Singapore crosses the link to New York (one round trip) and New York answers; a command placed in
New York does not cross. Reads are Singapore's, local. Without background threads, :meth:`TradingService.settle`
drives New York's enrichment and the forwarders until Singapore has everything (what the CLI and the tour do
after a command); :meth:`start` runs them in the background instead (the worker, the benchmark, ``trading up``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from datastrata.core.errors import BackendUnavailable, ValidationError
from datastrata.core.ids import new_id
from datastrata.runtime import Runtime
from datastrata.runtime.rounds import settle
from datastrata.systems.trading.domain import (
    Order,
    amount,
    check_order_id,
    check_side,
    check_symbol,
    check_user,
    price,
    quantity,
)
from datastrata.systems.trading.forwarder import Forwarders
from datastrata.systems.trading.link import Link, LinkState
from datastrata.systems.trading.newyork import Deposited, NewYork, Trade
from datastrata.systems.trading.provision import provision
from datastrata.systems.trading.schema import NEW_YORK as NEW_YORK_SCHEMA
from datastrata.systems.trading.schema import SINGAPORE as SINGAPORE_SCHEMA
from datastrata.systems.trading.singapore import Singapore
from datastrata.systems.trading.ticks import TickFeed
from datastrata.systems.trading.topology import NEW_YORK, REGIONS, Topology, topology

T = TypeVar("T")

#: The name the service is registered under on a runtime.
SERVICE = "trading"
#: Rounds :meth:`TradingService.settle` runs at most (each applies a page per shard).
MAX_SETTLE_ROUNDS = 10_000


def check_region(value: object) -> str:
    """Return `value` if it names a region."""
    if value not in REGIONS:
        raise ValidationError(f"region must be one of {', '.join(REGIONS)}; got {value!r}", field="region")
    return str(value)


def order_of(user: object, symbol: object, qty: object, at: object, *, side: object, order_id: object | None) -> Order:
    """Validate an order's fields (each refusal names its field); a missing `order_id` gets a fresh one."""
    return Order(
        check_order_id(order_id) if order_id is not None else new_id(),
        check_user(user), check_symbol(symbol), check_side(side), quantity(qty), price(at),
    )  # fmt: skip


class TradingService:
    """New York's sharded write side, Singapore's local read side, the forwarders and the link between them."""

    def __init__(self, runtime: Runtime, *, where: Topology | None = None, latency_ms: float | None = None) -> None:
        self.runtime = runtime
        self.topology = where or topology(runtime.settings)
        provision(runtime.settings, self.topology)  # PostgreSQL: the regions' databases, made and migrated once
        self.link = Link(self.topology.link_file, latency_ms=latency_ms)
        self.new_york = NewYork(self.topology, settings=runtime.settings, tenants=runtime.tenants, clock=runtime.clock)
        try:
            self.singapore = Singapore(self.topology.singapore, clock=runtime.clock)
            self.forwarders = Forwarders(self.new_york, self.link, self.singapore.receive)
        except BaseException:
            self.new_york.close()
            raise
        self.ticks = TickFeed()
        self._stop: threading.Event | None = None
        self._round = threading.Lock()  # one round at a time: the worker's job and a request's settle
        self._threads: list[threading.Thread] = []
        runtime.on_close(self.close)

    # ---- commands (New York's) -----------------------------------------------------------------------------

    def order(
        self,
        user: object,
        symbol: object,
        qty: object,
        at: object,
        *,
        side: object,
        region: object = NEW_YORK,
        order_id: object | None = None,
    ) -> Trade:
        """Place an order; from Singapore it crosses the link to New York (one round trip), which records it."""
        order = order_of(user, symbol, qty, at, side=side, order_id=order_id)
        return self._at_new_york(check_region(region), lambda: self.new_york.place(order), "order")

    def deposit(self, user: object, cash: object, *, region: object = NEW_YORK, key: str | None = None) -> Deposited:
        """Credit cash to an account in New York (from Singapore: over the link)."""
        who, how_much = check_user(user), amount(cash)
        return self._at_new_york(check_region(region), lambda: self.new_york.deposit(who, how_much, key=key), "deposit")

    def account(self, user: object, *, region: object = NEW_YORK) -> dict[str, Any]:
        """New York's own record of an account (from Singapore: a read that pays the round trip)."""
        who = check_user(user)
        return self._at_new_york(check_region(region), lambda: self.new_york.account(who), "account read")

    def _at_new_york(self, region: str, call: Callable[[], T], what: str) -> T:
        if region == NEW_YORK:
            return call()
        return self.link.round_trip(call, what=what)

    # ---- reads (Singapore's, local) --------------------------------------------------------------------------

    def positions(self, user: object) -> list[dict[str, Any]]:
        """Singapore's view of a user's positions (local; valued at the latest local quotes)."""
        return self.singapore.positions(check_user(user))

    def pnl(self, user: object) -> dict[str, Any]:
        """Singapore's view of a user's profit and portfolio value (local)."""
        return self.singapore.pnl(check_user(user))

    def alerts(self, user: object, *, limit: int = 100) -> list[dict[str, Any]]:
        """Singapore's risk alerts of a user, newest first (local)."""
        return self.singapore.alerts(check_user(user), limit=limit)

    def quotes(self) -> list[dict[str, Any]]:
        """Singapore's latest quote per symbol (local)."""
        return self.singapore.quotes()

    def tick(self, count: int) -> int:
        """Feed `count` synthetic market ticks into Singapore's quotes (one batch); symbols written."""
        return self.singapore.record_ticks(self.ticks.next(count))

    # ---- the link and the followers --------------------------------------------------------------------------

    def link_status(self) -> dict[str, Any]:
        """The link's state and each forwarder's place and state."""
        state = self.link.state().to_dict()
        state["forwarders"] = [s.to_dict() for s in self.forwarders.statuses()]
        state["pending"] = sum(lag.behind for lag in self.forwarders.lags())
        return state

    def cut(self) -> LinkState:
        """Cut the link between the regions."""
        return self.link.cut()

    def restore(self) -> LinkState:
        """Restore the link."""
        return self.link.restore()

    def set_latency(self, latency_ms: float) -> LinkState:
        """Set the link's one-way latency in milliseconds."""
        return self.link.set(latency_ms=latency_ms)

    def run_once(self) -> int:
        """One round: New York's enrichment on every shard, then every shard's forwarder; the work done."""
        with self._round:
            if self._stop is not None:
                return 0  # the background threads drive them
            return self.new_york.run_once() + self.forwarders.run_once()

    def settle(self, *, max_rounds: int = MAX_SETTLE_ROUNDS) -> int:
        """Run rounds until nothing is left to enrich or forward (or the link refuses); the work done."""
        return settle(self.run_once, max_rounds=max_rounds)

    def catch_up(self, *, timeout: float = 30.0) -> bool:
        """Run rounds until Singapore has everything (a backing-off forwarder is waited for); False at `timeout` or
        at once while the link is cut."""
        deadline = time.monotonic() + timeout
        while True:
            self.settle()
            if self.delivered():
                return True
            if self.link.state().cut or time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    def pending(self) -> int:
        """Business and raw events still to forward (the forwarders' lag over every shard)."""
        return sum(lag.behind for lag in self.forwarders.lags())

    def delivered(self) -> bool:
        """True when New York's enrichment has every raw event and every forwarder is at its shard's head."""
        enriched = all(lag.behind == 0 for lag in self.new_york.lags())  # first: it appends what is forwarded
        return enriched and self.pending() == 0 and not any(s.state == "backoff" for s in self.forwarders.statuses())

    def start(self) -> None:
        """Run New York's enrichment and each shard's forwarder in background threads until :meth:`stop`."""
        with self._round:  # no round of :meth:`run_once` is under way once the threads begin
            if self._stop is not None:
                return
            stop = self._stop = threading.Event()
            self._launch(stop)

    def _launch(self, stop: threading.Event) -> None:
        self._threads = self.new_york.start(stop)
        self.forwarders.start(stop)

    def stop(self) -> None:
        """Stop the background threads."""
        if self._stop is None:
            return
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        self.forwarders.join()
        self._stop, self._threads = None, []

    def close(self) -> None:
        """Stop the threads and close both regions' stores."""
        self.stop()
        self.forwarders.close()
        try:
            self.singapore.close()
        finally:
            self.new_york.close()


def install(runtime: Runtime) -> None:
    """Let the runtime's worker start both regions' background threads once the service is open (on first use).

    The forwarders pay the link's latency on every page, so they run in threads of their own rather than in the
    worker's round, which the other systems' followers share.
    """

    def regions() -> int:
        opened = runtime.services.get(SERVICE)
        if isinstance(opened, TradingService):
            opened.start()
        return 0

    for component in (NEW_YORK_SCHEMA, SINGAPORE_SCHEMA):  # the schema the regions' stores are made from, at home
        runtime.home.ensure(component)  # like every system's (SQLite: now; PostgreSQL: `datastrata migrate`)
    runtime.add_job("trading.regions", regions)


def require_delivered(service: TradingService) -> None:
    """Refuse to claim Singapore is up to date while events wait on a cut link."""
    if not service.delivered():
        raise BackendUnavailable(
            f"{service.pending()} events wait in New York for the link; restore it (`datastrata trading link restore`)"
        )


__all__ = ["SERVICE", "Decimal", "TradingService", "check_region"]
