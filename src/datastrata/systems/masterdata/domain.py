"""What the downstream systems derive from their copy of master data: pure rules, no I/O, no clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

#: Credit limit by customer credit tier; a customer without a (known) tier gets the floor.
CREDIT_LIMITS: Mapping[str, Decimal] = {
    "platinum": Decimal("100000"),
    "gold": Decimal("50000"),
    "silver": Decimal("20000"),
    "bronze": Decimal("5000"),
}
CREDIT_FLOOR = Decimal("1000")
#: Payment terms when a supplier states none, and the country our own bank account is in.
DEFAULT_NET_DAYS = 30
HOME_COUNTRY = "JP"


@dataclass(frozen=True, slots=True)
class CreditAssessment:
    """The customer service system's view: how much credit a customer gets and how risky they are."""

    credit_limit: Decimal
    risk_rating: str


@dataclass(frozen=True, slots=True)
class InventoryStrategy:
    """The product service system's view: how a product is stocked."""

    strategy: str
    safety_stock_days: int


@dataclass(frozen=True, slots=True)
class PaymentTerms:
    """The supply-chain system's view: when and how a supplier is paid."""

    net_days: int
    method: str
    early_discount_percent: Decimal


def credit_assessment(customer: Mapping[str, Any]) -> CreditAssessment:
    """Recalculate the credit limit from the tier (halved without any contact), then rate the risk."""
    tier = str(customer.get("credit_tier") or "").lower()
    limit = CREDIT_LIMITS.get(tier, CREDIT_FLOOR)
    reachable = bool(customer.get("email") or customer.get("phone"))
    if not reachable:
        limit = (limit / 2).quantize(Decimal("1"))
    if not customer.get("address") or not reachable:
        rating = "high"
    elif limit >= CREDIT_LIMITS["gold"]:
        rating = "low"
    else:
        rating = "medium"
    return CreditAssessment(limit, rating)


def inventory_strategy(product: Mapping[str, Any]) -> InventoryStrategy:
    """Choose how to stock a product from its category and price."""
    price = Decimal(str(product.get("price", "0")))
    category = str(product.get("category") or "").lower()
    if category in {"perishable", "food", "fresh"}:
        return InventoryStrategy("just-in-time", 2)
    if price >= 1000:
        return InventoryStrategy("make-to-order", 0)
    if price < 20:
        return InventoryStrategy("bulk-reorder", 30)
    return InventoryStrategy("reorder-point", 14)


def payment_terms(supplier: Mapping[str, Any]) -> PaymentTerms:
    """Adjust payment terms: the supplier's stated days (or the default), a transfer method by country, a discount."""
    days = supplier.get("payment_terms_days")
    net_days = DEFAULT_NET_DAYS if days is None else int(days)
    country = supplier.get("country")
    method = "domestic-transfer" if country in (None, HOME_COUNTRY) else "international-wire"
    discount = Decimal("2.0") if net_days >= 45 else Decimal("0")
    return PaymentTerms(net_days, method, discount)
