"""A synthetic market tick stream: a random walk per symbol, in cents, with a strictly increasing tick time."""

from __future__ import annotations

import random
import time
from decimal import Decimal

from datastrata.systems.trading.singapore import Tick

#: The symbols the feed quotes and where each one starts.
STARTS = {"AAPL": 190, "MSFT": 410, "NVDA": 120, "AMZN": 180, "GOOG": 165, "TSLA": 240, "JPM": 200, "XOM": 115}


class TickFeed:
    """Ticks for a fixed set of symbols: each tick moves one symbol's price by at most 0.1 % (never below a cent)."""

    def __init__(self, *, seed: int | None = None, starts: dict[str, int] | None = None) -> None:
        self.random = random.Random(seed)
        self.cents = {symbol: price * 100 for symbol, price in (starts or STARTS).items()}
        self.symbols = list(self.cents)
        self._last = 0

    def next(self, count: int) -> list[Tick]:
        """Return the next `count` ticks in time order."""
        ticks = []
        for _ in range(count):
            symbol = self.random.choice(self.symbols)
            held = self.cents[symbol]
            step = max(1, held // 1000)
            self.cents[symbol] = max(1, held + self.random.randint(-step, step))
            self._last = max(self._last + 1, time.time_ns())
            ticks.append(Tick(symbol, Decimal(self.cents[symbol]) / 100, self._last))
        return ticks
