"""Tour step: orders placed from Singapore cross to New York, are enriched there, and Singapore's view catches up."""

from __future__ import annotations

from collections.abc import Callable

from datastrata.runtime import Runtime
from datastrata.systems.trading.service import SERVICE, TradingService

#: The tour's one-way link latency, in milliseconds (shorter than the default 100 so the whole tour stays quick).
TOUR_LATENCY_MS = 50.0


def tour_step(runtime: Runtime, say: Callable[[str], None]) -> None:
    """Fund an account, trade from Singapore, show New York's record, the enrichment and Singapore's local view."""
    svc: TradingService = runtime.service(SERVICE, lambda r: TradingService(r, latency_ms=TOUR_LATENCY_MS))
    shards = ", ".join(svc.new_york.placement.shards)
    say(f"New York holds the accounts on {len(svc.new_york.placement.shards)} shards ({shards}); "
        f"the link to Singapore has {TOUR_LATENCY_MS:g} ms one way")  # fmt: skip
    svc.deposit("mei", "10000", region="singapore")
    buy = svc.order("mei", "AAPL", "20", "190", side="buy", region="singapore")
    sell = svc.order("mei", "AAPL", "5", "160", side="sell", region="singapore")
    say(f"From Singapore: bought 20 AAPL at 190, sold 5 at 160 — each order one round trip to New York, "
        f"recorded on {buy.shard} (map epoch {buy.epoch}) at log position {sell.token}")  # fmt: skip
    try:
        svc.order("mei", "AAPL", "50", "160", side="sell", region="singapore")
    except Exception as refused:
        say(f"  refused in New York: {refused}")
    record = svc.account("mei", region="new-york")
    say(f"New York's record: cash {record['cash']}, positions {record['positions']}, {len(record['trades'])} trades")
    say(f"Singapore before the enrichment crossed: {svc.positions('mei') or 'nothing yet'}")
    svc.settle()
    svc.tick(2000)
    pnl = svc.pnl("mei")
    say("New York's enrichment emitted profit, portfolio and risk events; the forwarder carried them across")
    say(f"Singapore, read locally: realised {pnl['realised']}, portfolio value {pnl['total_value']}")
    for position in svc.positions("mei"):
        say(f"  {position['symbol']}: {position['quantity']} at average cost {position['average_cost']}, "
            f"quoted {position['price']}, unrealised {position['unrealised']}")  # fmt: skip
    for alert in svc.alerts("mei"):
        say(f"  risk alert: {alert['rule']} on {alert['symbol']} at {alert['level']} (limit {alert['threshold']})")
    svc.cut()
    svc.order("mei", "MSFT", "2", "410", side="buy", region="new-york")
    svc.settle()
    say(f"Link cut: New York still trades; {svc.pending()} events wait there, Singapore still reads locally")
    svc.restore()
    svc.catch_up()
    say(f"Link restored: Singapore caught up — positions {[p['symbol'] for p in svc.positions('mei')]}")
