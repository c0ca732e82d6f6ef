"""Under contention on one stream a command whose rules still hold does not fail: jittered retries win the race."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from datastrata.core.config import Settings
from datastrata.core.retry import backoff
from datastrata.runtime import Runtime
from datastrata.systems.portfolio.service import PortfolioService


def test_200_concurrent_deposits_to_one_portfolio_all_succeed(pg_url: str) -> None:
    with Runtime.open(Settings(store=pg_url)) as runtime:
        svc = PortfolioService(runtime)
        with ThreadPoolExecutor(32) as pool:
            results = list(pool.map(lambda n: svc.deposit("hot", "1", event_id=f"d{n}"), range(200)))
        assert sorted(r.event.version for r in results) == list(range(1, 201))
        state = svc.state("hot")
        assert (state.version, str(state.cash)) == (200, "200")


def test_backoff_is_jittered_and_capped() -> None:
    delays = [backoff(n) for n in range(40)]
    assert all(0 <= d <= 0.5 for d in delays) and len(set(delays)) > 30
