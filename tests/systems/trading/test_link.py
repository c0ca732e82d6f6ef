"""The link: a cut loses and duplicates no business event in Singapore, and Singapore's reads never cross it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from decimal import Decimal

import pytest

from datastrata.core.errors import BackendUnavailable
from datastrata.core.events import Event
from datastrata.systems.trading.domain import BUSINESS_EVENTS
from datastrata.systems.trading.link import Pipe
from datastrata.systems.trading.service import TradingService
from datastrata.systems.trading.singapore import CONSUMER

#: How long the cut lasts: 5 s in the full run, a second in the bounded one.
CUT_SECONDS = 5.0 if os.environ.get("DATASTRATA_FULL") == "1" else 1.0
USERS = [f"trader{i}" for i in range(8)]


def _business_events(svc: TradingService) -> dict[str, str]:
    """Every business event New York's shards hold: id -> type."""
    found: dict[str, str] = {}
    types = ", ".join(f"'{t}'" for t in sorted(BUSINESS_EVENTS))
    for spec in svc.new_york.placement.shards.values():
        with svc.new_york.runtime.location(spec).db.read() as tx:
            rows = tx.query(f"SELECT event_id, event_type FROM eventlog_events WHERE event_type IN ({types})")
        found.update({str(r[0]): str(r[1]) for r in rows})
    return found


def _singapore_ids(svc: TradingService) -> list[str]:
    with svc.singapore.location.db.read() as tx:
        return [str(r[0]) for r in tx.query("SELECT event_id FROM messaging_inbox WHERE consumer = ?", (CONSUMER,))]


def _assert_singapore_matches_new_york(svc: TradingService) -> None:
    business = _business_events(svc)
    applied = _singapore_ids(svc)
    assert sorted(applied) == sorted(business)  # none lost, none twice
    assert svc.singapore.applied == len(business)
    with svc.singapore.location.db.read() as tx:
        alerts = int(tx.scalar("SELECT COUNT(*) FROM trading_sg_alerts"))
    assert alerts == sum(1 for t in business.values() if t == "RiskThresholdBreached")
    for user in USERS:  # the last update per account is New York's latest: each account's order was kept
        record = svc.new_york.account(user)
        assert svc.pnl(user)["cash"] == record["cash"]
        held = {p["symbol"]: p["quantity"] for p in svc.positions(user) if Decimal(p["quantity"])}
        assert held == {p["symbol"]: p["quantity"] for p in record["positions"]}


def _trade_round(svc: TradingService, n: int) -> None:
    for i, user in enumerate(USERS):
        svc.order(user, "AAPL", "2", str(180 + (n + i) % 20), side="buy")
        svc.order(user, "AAPL", "1", str(150 + (n * 7 + i) % 40), side="sell")


def test_a_cut_link_loses_and_duplicates_nothing_once_restored(trading: TradingService) -> None:
    for user in USERS:
        trading.deposit(user, "100000")
    trading.start()  # enrichment and the four forwarders in the background, as the worker runs them
    try:
        _trade_round(trading, 0)
        assert trading.catch_up()
        before = len(_singapore_ids(trading))
        trading.cut()
        with pytest.raises(BackendUnavailable, match="cut"):
            trading.order(USERS[0], "AAPL", "1", "1", side="buy", region="singapore")
        deadline = time.monotonic() + CUT_SECONDS
        n = 1
        while time.monotonic() < deadline:  # New York goes on trading while Singapore is cut off
            _trade_round(trading, n)
            n += 1
        assert len(_singapore_ids(trading)) == before  # nothing crossed
        assert trading.positions(USERS[0])  # Singapore still reads, locally
        assert trading.pending() > 0
        trading.restore()
        assert trading.catch_up()
    finally:
        trading.stop()
    _assert_singapore_matches_new_york(trading)


def test_a_page_whose_answer_was_lost_is_sent_again_and_applied_once(trading: TradingService) -> None:
    trading.deposit("zed", "1000")
    trading.order("zed", "MSFT", "1", "400", side="buy")
    trading.new_york.run_once()  # the enrichment; nothing crossed yet
    receive = trading.singapore.receive

    def apply_then_cut(events: Sequence[Event]) -> int:  # the far side acts, then the line goes down
        applied = receive(events)
        trading.link.cut()
        return applied

    buses = [relay.pipe for relay in trading.forwarders.relays.values()]
    for bus in buses:
        bus.receiver = apply_then_cut
    deadline = time.monotonic() + 10
    while not any(s.state == "backing-off" for s in trading.forwarders.statuses()):
        trading.forwarders.run_once()
        assert time.monotonic() < deadline
    assert len(_singapore_ids(trading)) == 3  # Singapore had applied the page…
    assert trading.pending() > 0  # …but its answer was lost: the relay did not move
    for bus in buses:
        bus.receiver = receive
    trading.restore()
    assert trading.catch_up()
    assert trading.singapore.repeats == 1  # the page came again and changed nothing
    assert sorted(_singapore_ids(trading)) == sorted(_business_events(trading))


def test_pages_are_pipelined_and_a_lost_page_loses_those_behind_it(trading: TradingService) -> None:
    for user in USERS[:4]:
        trading.deposit(user, "1000")
    trading.new_york.run_once()
    relay = next(r for r in trading.forwarders.relays.values() if r.log.head())
    relay.batch_size = 1  # one event a page: several pages wait
    assert relay.run_once() >= 2 and relay.position() == 0  # sent without waiting for the first answer
    assert trading.catch_up()
    pipe = Pipe(trading.link, "probe")
    carried: list[int] = []

    def far_side(n: int) -> Callable[[], None]:
        def act() -> None:
            if n == 0:
                raise RuntimeError("Singapore's store is down")
            carried.append(n)

        return act

    first, second = pipe.send(far_side(0), what="page 0"), pipe.send(far_side(1), what="page 1")
    with pytest.raises(BackendUnavailable, match="far side"):
        pipe.answered(first, timeout=5)
    with pytest.raises(BackendUnavailable, match="earlier page failed"):
        pipe.answered(second, timeout=5)
    assert carried == []  # page 1 never overtook page 0
    pipe.drain()
    assert pipe.answered(pipe.send(far_side(2), what="page 2"), timeout=5)
    assert carried == [2]
    pipe.close()


def test_singapore_reads_do_not_cross_and_commands_pay_one_round_trip(trading: TradingService) -> None:
    trading.deposit("mei", "1000", region="singapore")
    crossings = trading.link.crossings
    trading.order("mei", "AAPL", "1", "190", side="buy", region="singapore")
    assert trading.link.crossings == crossings + 1
    trading.settle()
    crossings = trading.link.crossings
    trading.cut()
    assert trading.positions("mei")[0]["quantity"] == "1"
    assert trading.pnl("mei")["cash"] == "810"
    trading.alerts("mei")
    trading.quotes()
    assert trading.link.crossings == crossings
    with pytest.raises(BackendUnavailable):
        trading.account("mei", region="singapore")
    assert trading.account("mei", region="new-york")["cash"] == "810"


def test_ticks_keep_the_last_quote_per_symbol(trading: TradingService) -> None:
    from datastrata.systems.trading.singapore import Tick

    sg = trading.singapore
    sg.record_ticks([Tick("AAPL", Decimal("1"), 10), Tick("AAPL", Decimal("3"), 30), Tick("AAPL", Decimal("2"), 20)])
    sg.record_ticks([Tick("AAPL", Decimal("9"), 5)])  # an older tick arriving late changes nothing
    assert [q["price"] for q in trading.quotes()] == ["3"]
    assert trading.tick(5000) == len(trading.ticks.symbols)
    quotes = {q["symbol"]: q["price"] for q in trading.quotes()}
    assert quotes == {s: format(Decimal(c) / 100, "f").rstrip("0").rstrip(".") for s, c in trading.ticks.cents.items()}
