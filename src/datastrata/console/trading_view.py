"""What the trading page shows: the link, both regions' view of one account, and how stale Singapore's is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup

from datastrata.console.charts.regions import regions
from datastrata.core.errors import NotFound
from datastrata.systems.trading.service import TradingService
from datastrata.systems.trading.topology import NEW_YORK

#: How many of Singapore's risk alerts the page lists.
ALERTS = 5


@dataclass(frozen=True, slots=True)
class Staleness:
    """How far Singapore's view is behind New York's record: events waiting, the last crossing's delay, its age."""

    pending: int
    delivered: bool
    cut: bool
    recorded_at: str | None
    delay_ms: float | None
    age_s: float | None

    @property
    def current(self) -> bool:
        """True when Singapore has everything New York recorded (enriched and forwarded)."""
        return self.delivered


@dataclass(frozen=True, slots=True)
class Regions:
    """Both regions as one account sees them, and the link between them."""

    link: dict[str, Any]
    user: str | None
    account: dict[str, Any] | None
    positions: list[dict[str, Any]]
    pnl: dict[str, Any] | None
    alerts: list[dict[str, Any]]
    staleness: Staleness
    chart: Markup


def look(svc: TradingService, user: str | None, *, now: datetime | None = None) -> Regions:
    """Read the link, New York's record of `user` (a local read there) and Singapore's local view of it."""
    link = svc.link_status()
    account = pnl = None
    positions: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    if user:
        try:
            account = svc.account(user, region=NEW_YORK)
        except NotFound:
            account = None
        positions, pnl, alerts = svc.positions(user), svc.pnl(user), svc.alerts(user, limit=ALERTS)
    staleness = _staleness(link, svc.delivered(), pnl, now or datetime.now(UTC))
    chart = regions(
        ("New York (writes)", _new_york_lines(account)),
        ("Singapore (local reads)", _singapore_lines(positions, pnl, staleness)),
        link=f"{link['latency_ms']:g} ms one way · {link['state']} · {link['pending']} waiting",
        cut=bool(link["cut"]),
        label="New York and Singapore and the link between them",
    )
    return Regions(link, user, account, positions, pnl, alerts, staleness, chart)


def _staleness(link: dict[str, Any], delivered: bool, pnl: dict[str, Any] | None, now: datetime) -> Staleness:
    recorded = pnl.get("recorded_in_new_york_at") if pnl else None
    applied = pnl.get("applied_in_singapore_at") if pnl else None
    delay = age = None
    if recorded and applied:
        at, got = datetime.fromisoformat(recorded), datetime.fromisoformat(applied)
        delay, age = (got - at).total_seconds() * 1000, max(0.0, (now - at).total_seconds())
    return Staleness(int(link["pending"]), delivered, bool(link["cut"]), recorded, delay, age)


def _new_york_lines(account: dict[str, Any] | None) -> list[str]:
    if account is None:
        return ["no account (deposit first)"]
    held = [f"{p['symbol']} {p['quantity']}" for p in account["positions"]]
    return [f"cash {account['cash']} · {account['shard']}", *held[:5]]


def _singapore_lines(positions: list[dict[str, Any]], pnl: dict[str, Any] | None, staleness: Staleness) -> list[str]:
    lines = [f"value {pnl['total_value']}" if pnl else "nothing yet"]
    lines += [f"{p['symbol']} {p['quantity']}" for p in positions[:4]]
    lines.append("up to date" if staleness.current else f"behind: {staleness.pending} events wait")
    return lines
