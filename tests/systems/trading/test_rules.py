"""New York's rules under concurrent orders: no overspend, no short selling, one trade per order id."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import RuleViolation, ValidationError
from datastrata.runtime import Runtime
from datastrata.runtime.location import LocationSpec
from datastrata.systems.trading.service import TradingService
from datastrata.systems.trading.topology import Topology, topology

THREADS = 12


def _race(calls: list[Callable[[], Any]]) -> tuple[list[Any], list[BaseException]]:
    """Run every call at once on its own thread; return what succeeded and what was refused."""
    done: list[Any] = []
    refused: list[BaseException] = []
    gate = threading.Barrier(len(calls))
    lock = threading.Lock()

    def run(call: Callable[[], Any]) -> None:
        gate.wait()
        try:
            result = call()
        except BaseException as exc:
            with lock:
                refused.append(exc)
        else:
            with lock:
                done.append(result)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done, refused


def _shard_counts(svc: TradingService, user: str) -> tuple[int, int]:
    """The user's trade rows and TradeExecuted events on New York's shard."""
    location = svc.new_york.runtime.locate(svc.new_york.scope(user))
    with location.db.read() as tx:
        trades = tx.scalar("SELECT COUNT(*) FROM trading_trades WHERE user_id = ?", (user,))
        events = tx.scalar(
            "SELECT COUNT(*) FROM eventlog_events WHERE stream_id = ? AND event_type = 'TradeExecuted'",
            (f"trading-{user}",),
        )
    return int(trades), int(events)


def check_concurrent_rules(svc: TradingService) -> None:
    """Buys that together overspend and sells that together go short: exactly the affordable ones win."""
    svc.deposit("alice", "1000", region="new-york")
    bought, refused = _race(
        [lambda: svc.order("alice", "AAPL", "1", "100", side="buy", region="new-york") for _ in range(THREADS)]
    )
    assert len(bought) == 10 and len(refused) == THREADS - 10
    assert all(isinstance(e, RuleViolation) and "cash" in str(e) for e in refused)
    record = svc.account("alice", region="new-york")
    assert record["cash"] == "0" and record["positions"] == [{"symbol": "AAPL", "quantity": "10"}]
    sold, refused = _race(
        [lambda: svc.order("alice", "AAPL", "3", "110", side="sell", region="new-york") for _ in range(THREADS)]
    )
    assert len(sold) == 3 and all("short" in str(e) for e in refused)
    record = svc.account("alice", region="new-york")
    assert record["cash"] == "990" and record["positions"] == [{"symbol": "AAPL", "quantity": "1"}]
    assert sorted(t.position for t in sold) == [Decimal(1), Decimal(4), Decimal(7)]  # each saw the one before
    assert _shard_counts(svc, "alice") == (13, 13)  # a trade row and its event, nothing for a refused order


def test_concurrent_orders_never_overspend_or_sell_short_on_sqlite(trading: TradingService) -> None:
    check_concurrent_rules(trading)


def test_concurrent_orders_on_postgresql_shards(tmp_path: Path, pg_server: str, pg_template: str) -> None:
    from datastrata.testing.servers import create_database

    def database(name: str) -> str:
        return create_database(pg_server, f"trading{os.getpid()}_{name}", template=pg_template)

    where = Topology(
        home=LocationSpec("new-york", database("ny"), "", ""),
        shards={f"shard-{i}": LocationSpec(f"shard-{i}", database(f"s{i}"), "", "") for i in range(2)},
        singapore=LocationSpec("singapore", f"sqlite:///{tmp_path}/sg.db", "", ""),
        folder=tmp_path,
    )
    with Runtime.open(Settings.embedded(tmp_path)) as runtime:
        svc = TradingService(runtime, where=where, latency_ms=1)
        assert {s.store.split(":")[0] for s in svc.new_york.placement.shards.values()} == {"postgresql"}
        check_concurrent_rules(svc)
        svc.settle()
        assert svc.pnl("alice")["cash"] == "990"


def test_an_order_id_is_executed_once(trading: TradingService) -> None:
    trading.deposit("bob", "500", region="new-york")
    first = trading.order("bob", "MSFT", "1", "400", side="buy", order_id="o-1")
    again = trading.order("bob", "MSFT", "1", "400", side="buy", order_id="o-1")
    assert not first.duplicate and again.duplicate and again.trade_id == first.trade_id
    assert _shard_counts(trading, "bob") == (1, 1)
    with pytest.raises(RuleViolation, match="o-1"):
        trading.order("bob", "MSFT", "2", "400", side="buy", order_id="o-1")


BAD_ORDERS = [
    (("bob", "aapl", "1", "1"), "symbol"),
    (("bob", "AAPL", "0", "1"), "quantity"),
    (("bob", "AAPL", "1.00001", "1"), "quantity"),
    (("bob", "AAPL", "1", "-3"), "price"),
    (("b b", "AAPL", "1", "1"), "user"),
]


def test_bad_orders_name_the_field_and_write_nothing(trading: TradingService) -> None:
    trading.deposit("bob", "500", region="new-york")
    for args, field in BAD_ORDERS:
        with pytest.raises(ValidationError) as refused:
            trading.order(*args, side="buy")
        assert refused.value.field == field, args
    with pytest.raises(ValidationError, match="side"):
        trading.order("bob", "AAPL", "1", "1", side="hold")
    assert _shard_counts(trading, "bob") == (0, 0)


def test_no_account_no_order_and_shards_carry_the_slot(trading: TradingService) -> None:
    from datastrata.sharding.slots import slot_of

    with pytest.raises(RuleViolation, match="deposit"):
        trading.order("carol", "AAPL", "1", "1", side="buy", region="new-york")
    users = [f"u{i}" for i in range(12)]
    for user in users:
        trading.deposit(user, "100", region="new-york")
    shards = {trading.new_york.placement.route(u).shard for u in users}
    assert len(shards) > 1  # accounts spread over the shards
    for user in users:
        location = trading.new_york.runtime.locate(trading.new_york.scope(user))
        with location.db.read() as tx:
            row = tx.one("SELECT shard_key, shard_slot FROM trading_accounts WHERE user_id = ?", (user,))
        assert row is not None and (row[0], int(row[1])) == (user, slot_of(user))


def test_on_a_postgresql_store_the_regions_databases_are_made_on_first_use(tmp_path: Path, pg_url: str) -> None:
    with Runtime.open(Settings(store=pg_url)) as runtime:
        svc = TradingService(runtime, where=topology(runtime.settings, shards=2), latency_ms=0)
        stores = [
            svc.topology.home.store,
            *(s.store for s in svc.topology.shards.values()),
            svc.topology.singapore.store,
        ]
        assert all(
            s.startswith("postgresql") and s.rsplit("/", 1)[1].startswith(pg_url.rsplit("/", 1)[1]) for s in stores
        )
        svc.deposit("pat", "100", region="singapore")
        svc.order("pat", "XOM", "1", "100", side="buy", region="singapore")
        assert svc.catch_up()
        assert svc.pnl("pat")["cash"] == "0"
    with Runtime.open(Settings(store=pg_url)) as runtime:  # a second opening finds them made
        again = TradingService(runtime, where=topology(runtime.settings, shards=2), latency_ms=0)
        assert again.positions("pat")[0]["symbol"] == "XOM"
        assert len(again.new_york.placement.shards) == 2
