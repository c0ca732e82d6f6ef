"""Portfolio service on SQLite and PostgreSQL: the seed scenario, time travel, rules, retries, holders."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import NotFound, RuleViolation, ValidationError
from datastrata.runtime import Runtime
from datastrata.systems.portfolio.service import PortfolioService

P = "user123-portfolio-A"
DAY = datetime(2025, 9, 12, tzinfo=UTC)


@pytest.fixture
def svc(store_url: str) -> PortfolioService:
    runtime = Runtime.open(Settings(store=store_url))
    yield PortfolioService(runtime)  # type: ignore[misc]
    runtime.close()


def seed_story(svc: PortfolioService) -> None:
    svc.deposit(P, "10000", at=DAY.replace(hour=9))
    svc.buy(P, "AAPL", "10", "175", at=DAY.replace(hour=10))
    svc.buy(P, "NVDA", "5", "950", at=DAY.replace(hour=11))
    svc.sell(P, "AAPL", "3", "180", at=DAY.replace(hour=12))


def test_the_seed_scenario(svc: PortfolioService) -> None:
    seed_story(svc)
    assert svc.state(P).to_dict() == {
        "portfolio_id": P,
        "cash": "4040.00",
        "holdings": {"AAPL": "7", "NVDA": "5"},
        "version": 4,
    }
    assert svc.state(P, at_version=2).to_dict() == {
        "portfolio_id": P,
        "cash": "8250.00",
        "holdings": {"AAPL": "10"},
        "version": 2,
    }
    as_of = svc.state(P, as_of=DAY.replace(hour=11, minute=30)).to_dict()
    assert (as_of["cash"], as_of["holdings"]) == ("3500.00", {"AAPL": "10", "NVDA": "5"})
    assert [e.type for e in svc.events(P)] == ["CASH_DEPOSITED", "STOCK_BOUGHT", "STOCK_BOUGHT", "STOCK_SOLD"]
    assert svc.holders("AAPL") == [{"portfolio_id": P, "quantity": "7"}]


def test_rules_refuse_and_leave_the_stream_unchanged(svc: PortfolioService) -> None:
    svc.deposit(P, "100")
    refused = [
        (lambda: svc.buy(P, "AAPL", "1", "100.01"), RuleViolation, "costs 100.01"),
        (lambda: svc.sell(P, "AAPL", "1", "1"), RuleViolation, "holds 0"),
        (lambda: svc.withdraw(P, "100.5"), RuleViolation, "only 100.00"),
        (lambda: svc.deposit(P, "0"), ValidationError, "greater than 0"),
        (lambda: svc.deposit(P, "-5"), ValidationError, "greater than 0"),
        (lambda: svc.deposit(P, "ten"), ValidationError, "must be a number"),
        (lambda: svc.buy(P, "aapl", "1", "1"), ValidationError, "symbol"),
        (lambda: svc.buy(P, "TOOLONGSYMBOL", "1", "1"), ValidationError, "symbol"),
        (lambda: svc.buy(P, "AAPL", "0", "1"), ValidationError, "quantity"),
        (lambda: svc.buy(P, "AAPL", "1", "0"), ValidationError, "price"),
        (lambda: svc.deposit("bad id!", "1"), ValidationError, "portfolio_id"),
    ]
    for command, error, words in refused:
        with pytest.raises(error, match=words):
            command()
    assert svc.state(P).version == 1


def test_a_retried_command_with_the_same_event_id_is_stored_once(svc: PortfolioService) -> None:
    svc.deposit(P, "100", event_id="dep-1")
    first = svc.withdraw(P, "100", event_id="wd-1")
    again = svc.withdraw(P, "100", event_id="wd-1")  # would break the cash rule if applied twice
    assert again.duplicate and not first.duplicate and again.event.position == first.event.position
    assert svc.state(P).to_dict()["cash"] == "0.00"
    assert len(svc.events(P)) == 2


def test_unknown_portfolio_and_bad_queries(svc: PortfolioService) -> None:
    with pytest.raises(NotFound, match="no events"):
        svc.state("nobody")
    svc.deposit(P, "1")
    with pytest.raises(ValidationError, match="at_version 9 does not exist"):
        svc.state(P, at_version=9)
    assert svc.state(P, at_version=0).to_dict()["cash"] == "0.00"


def test_snapshots_do_not_change_answers(svc: PortfolioService) -> None:
    svc.deposit(P, "1000000")
    for i in range(1, 230):
        svc.buy(P, "AAPL", "1", str(i))
    assert svc.runtime.home.snapshots.load(svc.scope(P).stream_id) is not None
    state = svc.state(P)
    assert state.version == 230
    assert state.cash == Decimal(1000000) - sum(Decimal(i) for i in range(1, 230))
    assert svc.state(P, at_version=150).holdings["AAPL"] == 149


def test_holders_projection_rebuild_gives_the_same_answer(svc: PortfolioService) -> None:
    for n, p in enumerate(["a", "b", "c"], start=1):
        svc.deposit(p, "10000")
        svc.buy(p, "AAPL", str(n), "10")
    svc.sell("b", "AAPL", "2", "10")
    before = svc.holders("AAPL")
    assert before == [{"portfolio_id": "a", "quantity": "1"}, {"portfolio_id": "c", "quantity": "3"}]
    svc.holders_runner.rebuild()
    assert svc.holders("AAPL") == before
    token = svc.buy("b", "AAPL", "5", "1").event.position
    assert {"portfolio_id": "b", "quantity": "5"} in svc.holders("AAPL", after=token)


def test_huge_or_overly_precise_amounts_are_refused(svc: PortfolioService) -> None:
    for amount in ("1e30", "1234567890123456", "0.000000001"):
        with pytest.raises(ValidationError, match="digits"):
            svc.deposit(P, amount)
    svc.deposit(P, "999999999999999.99999999")
    assert svc.state(P).to_dict()["cash"] == "999999999999999.99999999"


def test_business_time_does_not_go_backwards_within_a_portfolio(svc: PortfolioService) -> None:
    svc.deposit(P, "100", at=DAY.replace(hour=10))
    with pytest.raises(RuleViolation, match="earlier than the latest event"):
        svc.buy(P, "AAPL", "1", "1", at=DAY.replace(hour=9))
    svc.buy(P, "AAPL", "1", "1", at=DAY.replace(hour=10))
    with pytest.raises(NotFound):
        svc.state("nobody", as_of=DAY)
