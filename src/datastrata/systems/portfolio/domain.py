"""Portfolio domain: events, state as a fold of events, and the rules a command must pass. No I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from datastrata.core.errors import RuleViolation, ValidationError
from datastrata.core.events import Event, NewEvent
from datastrata.core.validation import decimal_pattern, decimal_value
from datastrata.eventlog.snapshots import register_snapshotter

CASH_DEPOSITED = "CASH_DEPOSITED"
CASH_WITHDRAWN = "CASH_WITHDRAWN"
STOCK_BOUGHT = "STOCK_BOUGHT"
STOCK_SOLD = "STOCK_SOLD"
EVENT_TYPES = frozenset({CASH_DEPOSITED, CASH_WITHDRAWN, STOCK_BOUGHT, STOCK_SOLD})

_PORTFOLIO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_SYMBOL = re.compile(r"^[A-Z0-9.]{1,10}$")
_CENT = Decimal("0.01")
#: Bounds on every amount, quantity and price, so sums stay exact within Decimal's 28 digits.
MAX_INTEGER_DIGITS = 15
MAX_DECIMALS = 8
#: The same bounds as a pattern, for the HTTP schema.
AMOUNT_PATTERN = decimal_pattern(MAX_INTEGER_DIGITS, MAX_DECIMALS)
#: Longest event id (idempotency key) a command takes.
MAX_EVENT_ID = 200


def check_portfolio_id(portfolio_id: str) -> str:
    """Refuse a malformed portfolio id."""
    if not _PORTFOLIO_ID.match(portfolio_id):
        raise ValidationError(
            f"portfolio_id must be 1-100 of letters, digits, '.', '_' or '-', e.g. user123-portfolio-A; "
            f"got {portfolio_id!r}",
            field="portfolio_id",
        )
    return portfolio_id


def check_symbol(symbol: str) -> str:
    """Refuse a symbol that is not 1-10 of A-Z, digits and '.'."""
    if not _SYMBOL.match(symbol):
        raise ValidationError(
            f"symbol must be 1-10 of A-Z, digits and '.', e.g. AAPL or BRK.B; got {symbol!r}", field="symbol"
        )
    return symbol


def positive(value: Decimal | int | str, *, field: str) -> Decimal:
    """Parse `value` as a Decimal > 0 within the digit bounds (refused, never rounded)."""
    return decimal_value(
        value, field=field, max_digits=MAX_INTEGER_DIGITS, max_decimals=MAX_DECIMALS, minimum=Decimal(0),
        exclusive_minimum=True,
    )  # fmt: skip


def money_text(amount: Decimal) -> str:
    """Format money with at least two decimals (4040 -> '4040.00')."""
    return str(amount.quantize(_CENT)) if amount.as_tuple().exponent >= -2 else str(amount)  # type: ignore[operator]


def quantity_text(quantity: Decimal) -> str:
    """Format a quantity without trailing zeros (7.000 -> '7')."""
    text = format(quantity.normalize(), "f")
    return text


@dataclass
class PortfolioState:
    """Cash and holdings: the fold of a portfolio's events."""

    portfolio_id: str
    cash: Decimal = Decimal(0)
    holdings: dict[str, Decimal] = field(default_factory=dict)
    version: int = 0
    #: Business time of the latest event (None before the first).
    last_at: datetime | None = None

    def apply(self, event_type: str, payload: Mapping[str, Any]) -> None:
        """Fold one event into the state."""
        if event_type == CASH_DEPOSITED:
            self.cash += Decimal(payload["amount"])
        elif event_type == CASH_WITHDRAWN:
            self.cash -= Decimal(payload["amount"])
        elif event_type in (STOCK_BOUGHT, STOCK_SOLD):
            symbol = str(payload["symbol"])
            quantity = Decimal(str(payload["quantity"]))
            cost = quantity * Decimal(str(payload["price"]))
            sign = 1 if event_type == STOCK_BOUGHT else -1
            self.cash -= sign * cost
            self.holdings[symbol] = self.holdings.get(symbol, Decimal(0)) + sign * quantity
        self.version += 1

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape: Decimal strings, zero holdings left out, symbols sorted."""
        return {
            "portfolio_id": self.portfolio_id,
            "cash": money_text(self.cash),
            "holdings": {s: quantity_text(q) for s, q in sorted(self.holdings.items()) if q != 0},
            "version": self.version,
        }

    def snapshot(self) -> dict[str, Any]:
        """Return the state in a form :func:`from_snapshot` reads back exactly."""
        return {
            "cash": str(self.cash),
            "holdings": {s: str(q) for s, q in self.holdings.items()},
            "last_at": self.last_at.isoformat() if self.last_at else None,
        }

    @classmethod
    def from_snapshot(cls, portfolio_id: str, version: int, data: Mapping[str, Any]) -> PortfolioState:
        """Restore a state saved by :meth:`snapshot`."""
        holdings = {str(s): Decimal(q) for s, q in dict(data["holdings"]).items()}
        last_at = datetime.fromisoformat(data["last_at"]) if data.get("last_at") else None
        return cls(portfolio_id, Decimal(data["cash"]), holdings, version, last_at)


def replay(portfolio_id: str, events: Iterable[Event], start: PortfolioState | None = None) -> PortfolioState:
    """Fold `events` (in version order) onto `start` or an empty portfolio."""
    state = start or PortfolioState(portfolio_id)
    for event in events:
        state.apply(event.type, event.payload)
        state.last_at = event.occurred_at
    return state


def check_business_time(state: PortfolioState, at: datetime | None) -> None:
    """Refuse a business time earlier than the portfolio's latest event, so --as-of replays stay consistent."""
    if at is not None and state.last_at is not None and at < state.last_at:
        raise RuleViolation(
            f"--at {at.isoformat()} is earlier than the latest event of portfolio {state.portfolio_id} "
            f"({state.last_at.isoformat()}); business time must not go backwards within a portfolio"
        )


def deposit(amount: Decimal | str, *, at: datetime | None, event_id: str | None) -> NewEvent:
    """Decide a deposit: the amount must be > 0."""
    value = positive(amount, field="amount")
    return _event(CASH_DEPOSITED, {"amount": str(value)}, at, event_id)


def withdraw(state: PortfolioState, amount: Decimal | str, *, at: datetime | None, event_id: str | None) -> NewEvent:
    """Decide a withdrawal: the amount must be > 0 and covered by cash."""
    value = positive(amount, field="amount")
    if value > state.cash:
        raise RuleViolation(
            f"cannot withdraw {value}: portfolio {state.portfolio_id} holds only {money_text(state.cash)} in cash"
        )
    return _event(CASH_WITHDRAWN, {"amount": str(value)}, at, event_id)


def buy(
    state: PortfolioState,
    symbol: str,
    quantity: Decimal | str,
    price: Decimal | str,
    *,
    at: datetime | None,
    event_id: str | None,
) -> NewEvent:
    """Decide a purchase: cash must cover quantity times price."""
    symbol, qty, px = _terms(symbol, quantity, price)
    cost = qty * px
    if cost > state.cash:
        raise RuleViolation(
            f"cannot buy {quantity_text(qty)} {symbol} @ {px}: it costs {money_text(cost)} but portfolio "
            f"{state.portfolio_id} holds only {money_text(state.cash)} in cash; deposit more first"
        )
    return _event(STOCK_BOUGHT, {"symbol": symbol, "quantity": str(qty), "price": str(px)}, at, event_id)


def sell(
    state: PortfolioState,
    symbol: str,
    quantity: Decimal | str,
    price: Decimal | str,
    *,
    at: datetime | None,
    event_id: str | None,
) -> NewEvent:
    """Decide a sale: the portfolio must hold that many shares."""
    symbol, qty, px = _terms(symbol, quantity, price)
    held = state.holdings.get(symbol, Decimal(0))
    if qty > held:
        raise RuleViolation(
            f"cannot sell {quantity_text(qty)} {symbol}: portfolio {state.portfolio_id} holds {quantity_text(held)}"
        )
    return _event(STOCK_SOLD, {"symbol": symbol, "quantity": str(qty), "price": str(px)}, at, event_id)


def _terms(symbol: str, quantity: Decimal | str, price: Decimal | str) -> tuple[str, Decimal, Decimal]:
    """Validate a trade's symbol, quantity and price."""
    return check_symbol(symbol), positive(quantity, field="quantity"), positive(price, field="price")


def _event(event_type: str, payload: dict[str, str], at: datetime | None, event_id: str | None) -> NewEvent:
    if event_id is not None:
        if not event_id.strip() or len(event_id) > MAX_EVENT_ID:
            raise ValidationError("event_id must be 1-200 characters; omit it to get a new one", field="event_id")
        return NewEvent(type=event_type, payload=payload, occurred_at=at, event_id=event_id)
    return NewEvent(type=event_type, payload=payload, occurred_at=at)


register_snapshotter("portfolio", lambda stream_id, events: replay(stream_id, events).snapshot())
