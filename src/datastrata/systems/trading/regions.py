"""Each region on its own: New York's and Singapore's processes of ``datastrata trading up`` and their routes.

New York runs the sharded accounts, each shard's enrichment and each shard's forwarder, whose transport is the
link carrying a page to Singapore's socket (``POST /receive``). Singapore runs its read model and the tick feed, and
sends its commands to New York's socket over the link (``POST /orders``): one round trip. The link is the same one
the single process uses — its latency paid in this process, each way, and its cut state shared on the host — so the
forwarder, its checkpoint after Singapore's answer and Singapore's inbox are the same code in both modes.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from datastrata.core.config import Settings
from datastrata.core.errors import BackendUnavailable, ValidationError
from datastrata.core.events import Event, event_from_dict
from datastrata.systems.trading.domain import PORTFOLIO_VALUED, Order, amount, check_user
from datastrata.systems.trading.forwarder import Forwarders
from datastrata.systems.trading.link import Link
from datastrata.systems.trading.newyork import NewYork
from datastrata.systems.trading.provision import provision
from datastrata.systems.trading.region_app import Handler
from datastrata.systems.trading.service import order_of
from datastrata.systems.trading.singapore import Singapore
from datastrata.systems.trading.ticks import TickFeed
from datastrata.systems.trading.topology import NEW_YORK, SINGAPORE, Topology
from datastrata.systems.trading.wire import RegionClient

#: The most staleness samples Singapore keeps for ``GET /staleness`` (the newest win).
STALENESS_SAMPLES = 100_000
#: The most business events one page to ``POST /receive`` may carry.
MAX_PAGE = 5_000


class Region(Protocol):
    """What ``trading up`` runs: a region's routes, its background threads, its status."""

    name: str

    def routes(self) -> dict[tuple[str, str], Handler]:
        """The region's HTTP routes."""

    def start(self, stop: threading.Event) -> None:
        """Start the region's background work until `stop` is set."""

    def close(self) -> None:
        """Wait for the background work (after `stop`) and close the region's stores."""


def change_link(link: Link, body: dict[str, Any]) -> dict[str, Any]:
    """Apply ``{"cut": true|false}`` and/or ``{"latency_ms": N}`` to `link`; its state after."""
    cut = body.get("cut")
    if cut is not None and not isinstance(cut, bool):
        raise ValidationError(f"cut must be true or false; got {cut!r}", field="cut")
    return link.set(latency_ms=body.get("latency_ms"), cut=cut).to_dict()


def parse_order(body: dict[str, Any]) -> Order:
    """Validate an order's JSON (each refusal names its field); a missing ``order_id`` gets a fresh one."""
    return order_of(body.get("user"), body.get("symbol"), body.get("quantity"), body.get("price"),
                    side=body.get("side"), order_id=body.get("order_id"))  # fmt: skip


def order_body(body: dict[str, Any]) -> dict[str, Any]:
    """Validate an order's JSON; the order as New York's route takes it (its id fixed here, so a retry is safe)."""
    order = parse_order(body)
    return {"order_id": order.order_id, **order.content()}


def deposit_body(body: dict[str, Any]) -> dict[str, Any]:
    """Validate a deposit's JSON; the deposit as New York's route takes it."""
    key = body.get("deposit_id")
    if key is not None and not isinstance(key, str):
        raise ValidationError(f"deposit_id must be text; got {key!r}", field="deposit_id")
    return {"user": check_user(body.get("user")), "amount": str(amount(body.get("amount"))), "deposit_id": key}


class NewYorkRegion:
    """New York as a process: orders, deposits and strong reads on its socket; enrichment and forwarders running."""

    name = NEW_YORK

    def __init__(self, settings: Settings, where: Topology, *, latency_ms: float | None = None) -> None:
        provision(settings, where)  # PostgreSQL: the regions' databases, made and migrated once
        self.link = Link(where.link_file, latency_ms=latency_ms)
        self.new_york = NewYork(where, settings=settings)
        self.singapore = RegionClient(where.folder, SINGAPORE)
        try:
            self.forwarders = Forwarders(self.new_york, self.link, self._carry)
        except BaseException:
            self.new_york.close()
            raise
        self._threads: list[threading.Thread] = []

    def _carry(self, events: Sequence[Event]) -> int:
        """Send a page of business events to Singapore's socket; how many it applied for the first time."""
        answer = self.singapore.post("/receive", {"events": [event.to_dict() for event in events]})
        return int(answer["applied"])

    def routes(self) -> dict[tuple[str, str], Handler]:
        """``POST /orders``, ``POST /deposits``, ``GET /accounts/USER``, ``GET /status``, ``POST /link``."""
        return {
            ("POST", "orders"): lambda _, body: self.new_york.place(parse_order(body)).to_dict(),
            ("POST", "deposits"): lambda _, body: self._deposit(deposit_body(body)),
            ("GET", "accounts"): lambda user, _: self.new_york.account(check_user(user)),
            ("GET", "status"): lambda _, __: self.status(),
            ("POST", "link"): lambda _, body: change_link(self.link, body),
        }

    def _deposit(self, body: dict[str, Any]) -> dict[str, Any]:
        key = body["deposit_id"]
        return self.new_york.deposit(body["user"], amount(body["amount"]), key=key).to_dict()

    def status(self) -> dict[str, Any]:
        """The link, each forwarder's state and what waits to cross."""
        lags = self.new_york.lags()
        return {
            "region": NEW_YORK, "pid": os.getpid(), "link": self.link.state().to_dict(),
            "shards": list(self.new_york.placement.shards),
            "enriched": all(lag.behind == 0 for lag in lags),
            "pending": sum(lag.behind for lag in self.forwarders.lags()),
            "forwarders": [s.to_dict() for s in self.forwarders.statuses()],
        }  # fmt: skip

    def start(self, stop: threading.Event) -> None:
        """Run every shard's enrichment and forwarder in the background until `stop`."""
        self._threads = self.new_york.start(stop)
        self.forwarders.start(stop)

    def close(self) -> None:
        """Wait for the threads (after `stop`) and close New York's stores."""
        for thread in self._threads:
            thread.join(10)
        self.forwarders.join()
        self.forwarders.close()
        self.new_york.close()


class SingaporeRegion:
    """Singapore as a process: its read model fed on its socket, local reads, and commands sent over the link."""

    name = SINGAPORE

    def __init__(self, settings: Settings, where: Topology, *, latency_ms: float | None = None) -> None:
        provision(settings, where)
        self.link = Link(where.link_file, latency_ms=latency_ms)
        self.singapore = Singapore(where.singapore)
        self.new_york = RegionClient(where.folder, NEW_YORK)
        self.ticks = TickFeed()
        self._lock = threading.Lock()
        #: Milliseconds from New York's commit to Singapore's commit per portfolio update applied (measurement).
        self.staleness: deque[float] = deque(maxlen=STALENESS_SAMPLES)
        self.singapore.observe = self._observe

    def _observe(self, events: Sequence[Event]) -> None:
        now = datetime.now(UTC)
        late = [(now - datetime.fromisoformat(str(e.metadata["source_at"]))).total_seconds() * 1000
                for e in events if e.type == PORTFOLIO_VALUED]  # fmt: skip
        with self._lock:
            self.staleness.extend(late)

    def _receive(self, body: dict[str, Any]) -> dict[str, Any]:
        events = body.get("events")
        if not isinstance(events, list) or len(events) > MAX_PAGE:
            raise ValidationError(f"events must be a list of at most {MAX_PAGE} events", field="events")
        try:
            page = [event_from_dict(item) for item in events]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"an event of the page is malformed: {exc}", field="events") from exc
        return {"applied": self.singapore.receive(page)}

    def _at_new_york(self, method: str, path: str, body: dict[str, Any] | None, what: str) -> Any:
        """One round trip over the link to New York's socket."""
        return self.link.round_trip(lambda: self.new_york.call(method, path, body), what=what)

    def _order(self, order: dict[str, Any]) -> Any:
        """Send `order` to New York; when the link fails, say which order id makes the retry safe."""
        try:
            return self._at_new_york("POST", "/orders", order, "order")
        except BackendUnavailable as exc:
            raise BackendUnavailable(
                f"{exc}; send it again with order_id {order['order_id']} so that it is executed at most once"
            ) from exc

    def _take_staleness(self, _: str, __: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            samples, self.staleness = list(self.staleness), deque(maxlen=STALENESS_SAMPLES)
        return {"staleness_ms": samples}

    def routes(self) -> dict[tuple[str, str], Handler]:
        """Business events in (``POST /receive``), commands out over the link, local reads, status and the link."""
        sg = self.singapore
        return {
            ("POST", "receive"): lambda _, body: self._receive(body),
            ("POST", "orders"): lambda _, body: self._order(order_body(body)),
            ("POST", "deposits"): lambda _, body: self._at_new_york("POST", "/deposits", deposit_body(body), "deposit"),
            ("GET", "accounts"): lambda u, _: self._at_new_york("GET", f"/accounts/{check_user(u)}", None, "read"),
            ("GET", "positions"): lambda user, _: sg.positions(check_user(user)),
            ("GET", "pnl"): lambda user, _: sg.pnl(check_user(user)),
            ("GET", "alerts"): lambda user, _: sg.alerts(check_user(user)),
            ("GET", "quotes"): lambda _, __: sg.quotes(),
            ("POST", "ticks"): lambda _, body: {"symbols": sg.record_ticks(self.ticks.next(_tick_count(body)))},
            ("GET", "staleness"): self._take_staleness,
            ("GET", "status"): lambda _, __: self.status(),
            ("POST", "link"): lambda _, body: change_link(self.link, body),
        }

    def status(self) -> dict[str, Any]:
        """The link, and what Singapore applied (and how many pages came again)."""
        return {"region": SINGAPORE, "pid": os.getpid(), "link": self.link.state().to_dict(),
                "applied": self.singapore.applied, "repeats": self.singapore.repeats}  # fmt: skip

    def start(self, stop: threading.Event) -> None:
        """Nothing runs in the background: Singapore answers on its socket."""

    def close(self) -> None:
        """Close Singapore's store."""
        self.singapore.close()


def _tick_count(body: dict[str, Any]) -> int:
    count = body.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100_000:
        raise ValidationError(f"count must be a whole number from 1 to 100000; got {count!r}", field="count")
    return count
