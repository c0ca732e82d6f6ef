"""The downstream rules (pure) and the tour step."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.systems.masterdata import domain
from datastrata.systems.masterdata.tour import tour_step


def test_credit_limit_then_risk_rating() -> None:
    full = {"credit_tier": "Gold", "email": "a@b.co", "address": "Tokyo"}
    assert domain.credit_assessment(full) == domain.CreditAssessment(Decimal("50000"), "low")
    assert domain.credit_assessment({**full, "credit_tier": "bronze"}).risk_rating == "medium"
    assert domain.credit_assessment({"credit_tier": "silver"}) == domain.CreditAssessment(Decimal("10000"), "high")
    assert domain.credit_assessment({}).credit_limit == Decimal("500")


def test_inventory_strategy_and_payment_terms() -> None:
    assert domain.inventory_strategy({"price": Decimal("5"), "category": "Fresh"}).strategy == "just-in-time"
    assert domain.inventory_strategy({"price": Decimal("1500")}).strategy == "make-to-order"
    assert domain.inventory_strategy({"price": Decimal("5")}).safety_stock_days == 30
    assert domain.payment_terms({}) == domain.PaymentTerms(30, "domestic-transfer", Decimal("0"))
    assert domain.payment_terms({"country": "US", "payment_terms_days": 45}).early_discount_percent == Decimal("2.0")


def test_tour_step(tmp_path: Path) -> None:
    lines: list[str] = []
    with Runtime.open(Settings.embedded(tmp_path)) as runtime:
        tour_step(runtime, lines.append)
    text = "\n".join(lines)
    assert "as we knew it then: Alice Smyth" in text
    assert "as we know it now:  Alice Tanaka" in text
    assert "before it: address 1-1 Chiyoda, Tokyo" in text and "after it:  address 2-2 Umeda, Osaka" in text
    assert "activate() announced 1 version(s)" in text and "'credit_limit': '20000'" in text
    assert "verify: 0 drifted" in text
