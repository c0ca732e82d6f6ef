"""Tour step: the source article's story, replayed event by event, then a time-travel query."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from datastrata.runtime import Runtime
from datastrata.systems.portfolio import domain
from datastrata.systems.portfolio.service import PortfolioService

PORTFOLIO = "user123-portfolio-A"


def tour_step(runtime: Runtime, say: Callable[[str], None]) -> None:
    """Deposit 10000, buy AAPL 10 @ 175, buy NVDA 5 @ 950, sell AAPL 3 @ 180; replay; travel back."""
    svc = PortfolioService(runtime)
    day = datetime(2025, 9, 12, tzinfo=UTC)
    svc.deposit(PORTFOLIO, "10000", at=day.replace(hour=9))
    svc.buy(PORTFOLIO, "AAPL", "10", "175", at=day.replace(hour=10))
    svc.buy(PORTFOLIO, "NVDA", "5", "950", at=day.replace(hour=11))
    svc.sell(PORTFOLIO, "AAPL", "3", "180", at=day.replace(hour=12))
    say(f"Replaying {PORTFOLIO} from its events:")
    state = domain.PortfolioState(PORTFOLIO)
    for event in svc.events(PORTFOLIO):
        state.apply(event.type, event.payload)
        view = state.to_dict()
        say(f"  v{event.version} {event.type:<15} cash {view['cash']:>9}  holdings {view['holdings']}")
    now = svc.state(PORTFOLIO).to_dict()
    say(f"State now: {now}")
    then = svc.state(PORTFOLIO, as_of=day.replace(hour=10, minute=30)).to_dict()
    say(f"Time travel, as of 10:30 that day: cash {then['cash']}, holdings {then['holdings']}")
    say(f"Holders of AAPL (projection): {svc.holders('AAPL')}")
