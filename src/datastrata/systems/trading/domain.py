"""Trading rules, pure: orders against cash and holdings (no overspend, no short selling), and the enrichment math.

New York records ``TradeExecuted`` (the raw fact); its enrichment turns each one into business events — the realised
and unrealised profit from the position's average cost, the portfolio's value, and risk breaches — which are what
crosses the ocean to Singapore.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from datastrata.core.errors import RuleViolation, ValidationError
from datastrata.core.validation import decimal_value

#: The raw events New York records.
TRADE_EXECUTED = "TradeExecuted"
FUNDS_DEPOSITED = "FundsDeposited"
RAW_EVENTS = frozenset({TRADE_EXECUTED, FUNDS_DEPOSITED})
#: The business events the enrichment emits; only these are forwarded to Singapore.
PROFIT_CALCULATED = "TradeProfitCalculated"
PORTFOLIO_VALUED = "PortfolioValueUpdated"
RISK_BREACHED = "RiskThresholdBreached"
BUSINESS_EVENTS = frozenset({PROFIT_CALCULATED, PORTFOLIO_VALUED, RISK_BREACHED})

BUY, SELL = "buy", "sell"
SIDES = (BUY, SELL)
#: Bounds of every amount (refused beyond them, never rounded).
QTY_DIGITS, QTY_DECIMALS = 9, 4
PRICE_DIGITS, PRICE_DECIMALS = 9, 4
CASH_DIGITS, CASH_DECIMALS = 12, 2
#: A symbol: 1-12 upper-case letters, digits, '.' or '-' (BRK.B, RDS-A).
SYMBOL_PATTERN = r"^[A-Z][A-Z0-9.\-]{0,11}$"
#: A user (account) id: 1-64 letters, digits, '_', '.', ':' or '-'.
USER_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"
#: An order id (the idempotency key of an order): 1-100 printable characters without spaces.
ORDER_PATTERN = r"^[A-Za-z0-9_.:\-]{1,100}$"
#: Risk rules: one symbol above this share of the portfolio's value is over-exposed.
EXPOSURE_LIMIT = Decimal("0.5")
#: Risk rules: a position below its average cost by this share trips its stop-loss.
STOP_LOSS = Decimal("0.1")

_SYMBOL = re.compile(SYMBOL_PATTERN)
_USER = re.compile(USER_PATTERN)
_ORDER = re.compile(ORDER_PATTERN)


def check_user(value: object) -> str:
    """Return `value` if it is a user id."""
    if not isinstance(value, str) or not _USER.fullmatch(value):
        raise ValidationError(
            f"user must be 1-64 letters, digits, '_', '.', ':' or '-' (e.g. alice); got {value!r}", field="user"
        )
    return value


def check_symbol(value: object) -> str:
    """Return `value` if it is a ticker symbol (upper case, e.g. AAPL)."""
    if not isinstance(value, str) or not _SYMBOL.fullmatch(value):
        raise ValidationError(
            f"symbol must be 1-12 upper-case letters, digits, '.' or '-' starting with a letter (e.g. AAPL); "
            f"got {value!r}",
            field="symbol",
        )
    return value


def check_order_id(value: object) -> str:
    """Return `value` if it is an order id (the order's idempotency key)."""
    if not isinstance(value, str) or not _ORDER.fullmatch(value):
        raise ValidationError(
            f"order_id must be 1-100 letters, digits, '_', '.', ':' or '-'; got {value!r}; omit it for a fresh one",
            field="order_id",
        )
    return value


def check_side(value: object) -> str:
    """Return `value` if it is ``buy`` or ``sell``."""
    if value not in SIDES:
        raise ValidationError(f"side must be buy or sell; got {value!r}", field="side")
    return str(value)


def quantity(value: object) -> Decimal:
    """Parse an order quantity: positive, at most 9 digits and 4 decimals."""
    return decimal_value(
        value,
        field="quantity",
        max_digits=QTY_DIGITS,
        max_decimals=QTY_DECIMALS,
        minimum=Decimal(0),
        exclusive_minimum=True,
    )


def price(value: object, *, field: str = "price") -> Decimal:
    """Parse a price: positive, at most 9 digits and 4 decimals."""
    return decimal_value(
        value, field=field, max_digits=PRICE_DIGITS, max_decimals=PRICE_DECIMALS, minimum=Decimal(0),
        exclusive_minimum=True,
    )  # fmt: skip


def amount(value: object) -> Decimal:
    """Parse a deposit: positive cash, at most 12 digits and 2 decimals."""
    return decimal_value(
        value, field="amount", max_digits=CASH_DIGITS, max_decimals=CASH_DECIMALS, minimum=Decimal(0),
        exclusive_minimum=True,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Order:
    """A validated order: who trades what, how much, at what price, which way."""

    order_id: str
    user: str
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal

    @property
    def cost(self) -> Decimal:
        """The cash the order moves (quantity x price)."""
        return self.quantity * self.price

    def content(self) -> dict[str, Any]:
        """What the order's idempotency key promises (a retry must send the same)."""
        return {"user": self.user, "symbol": self.symbol, "side": self.side,
                "quantity": str(self.quantity), "price": str(self.price)}  # fmt: skip


def execute(order: Order, cash: Decimal, held: Decimal) -> tuple[Decimal, Decimal]:
    """Return the cash and holding of `order.symbol` after the order; refuse an overspend or a short sale."""
    if order.side == BUY:
        if order.cost > cash:
            raise RuleViolation(
                f"buying {order.quantity} {order.symbol} at {order.price} costs {order.cost} but {order.user} has "
                f"{cash} in cash; deposit more or buy fewer",
                field="quantity",
            )
        return cash - order.cost, held + order.quantity
    if order.quantity > held:
        raise RuleViolation(
            f"{order.user} holds {held} {order.symbol} and cannot sell {order.quantity} (no short selling); "
            "sell at most what is held",
            field="quantity",
        )
    return cash + order.cost, held - order.quantity


@dataclass(frozen=True, slots=True)
class Lot:
    """What the enrichment keeps per position: the quantity, its total cost (average-cost basis), the last price."""

    quantity: Decimal
    cost: Decimal
    mark: Decimal

    @property
    def average(self) -> Decimal:
        """The average cost per unit (0 for an empty position)."""
        return self.cost / self.quantity if self.quantity else Decimal(0)

    @property
    def value(self) -> Decimal:
        """The position at its last price."""
        return self.quantity * self.mark

    @property
    def unrealised(self) -> Decimal:
        """The position's profit not yet taken: its value less its cost."""
        return self.value - self.cost


def trade_into(lot: Lot, side: str, qty: Decimal, at: Decimal) -> tuple[Lot, Decimal]:
    """Return the position after a trade and the profit it realised (a sale against the average cost)."""
    if side == BUY:
        return Lot(lot.quantity + qty, lot.cost + qty * at, at), Decimal(0)
    sold_cost = lot.average * qty
    left = lot.quantity - qty
    return Lot(left, lot.cost - sold_cost if left else Decimal(0), at), qty * at - sold_cost


def risks(symbol: str, lot: Lot, total_value: Decimal) -> list[dict[str, Any]]:
    """Return the risk rules a position breaks: its share of the portfolio, and its stop-loss."""
    found: list[dict[str, Any]] = []
    if lot.quantity and total_value > 0 and lot.value / total_value > EXPOSURE_LIMIT:
        share = lot.value / total_value
        found.append({"rule": "exposure", "symbol": symbol, "level": _plain(share.quantize(Decimal("0.0001"))),
                      "limit": _plain(EXPOSURE_LIMIT)})  # fmt: skip
    if lot.quantity and lot.cost > 0 and lot.mark < lot.average * (1 - STOP_LOSS):
        drop = 1 - lot.mark / lot.average
        found.append({"rule": "stop_loss", "symbol": symbol, "level": _plain(drop.quantize(Decimal("0.0001"))),
                      "limit": _plain(STOP_LOSS)})  # fmt: skip
    return found


def _plain(value: Decimal) -> str:
    """A decimal as plain text (no exponent)."""
    return format(value.normalize(), "f") if value else "0"


def money(value: Decimal) -> str:
    """An amount as plain text with its trailing zeros removed (4 decimals at most: prices x quantities fit)."""
    return _plain(value.quantize(Decimal("0.00000001")))
