"""The source article's downstream systems: each copies one entity type and derives its own table from the copy.

customer → customer copy → credit limit recalculation → risk rating (the customer service system);
product → product copy → inventory strategy (the product service system);
supplier → supplier copy → payment terms (the supply-chain system).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from datastrata.mdm.sync import Downstream
from datastrata.stores.database import Dialect, Tx
from datastrata.systems.masterdata import domain


def _number(dialect: Dialect) -> str:
    return "TEXT" if dialect == "sqlite" else "NUMERIC"


def _credit_ddl(dialect: Dialect) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS masterdata_customer_credit (
    tenant_id    TEXT NOT NULL,
    customer_key TEXT NOT NULL,
    credit_limit {_number(dialect)} NOT NULL,
    risk_rating  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, customer_key)
);
"""


def _inventory_ddl(dialect: Dialect) -> str:
    return """
CREATE TABLE IF NOT EXISTS masterdata_inventory_strategies (
    tenant_id         TEXT    NOT NULL,
    product_key       TEXT    NOT NULL,
    strategy          TEXT    NOT NULL,
    safety_stock_days INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, product_key)
);
"""


def _terms_ddl(dialect: Dialect) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS masterdata_payment_terms (
    tenant_id              TEXT    NOT NULL,
    supplier_key           TEXT    NOT NULL,
    net_days               INTEGER NOT NULL,
    method                 TEXT    NOT NULL,
    early_discount_percent {_number(dialect)} NOT NULL,
    PRIMARY KEY (tenant_id, supplier_key)
);
"""


def derive_credit(tx: Tx, tenant_id: str, key: str, customer: Mapping[str, Any] | None) -> None:
    """Recalculate the customer's credit limit and risk rating (or drop them when the customer is gone)."""
    tx.execute("DELETE FROM masterdata_customer_credit WHERE tenant_id = ? AND customer_key = ?", (tenant_id, key))
    if customer is not None:
        found = domain.credit_assessment(customer)
        tx.execute(
            "INSERT INTO masterdata_customer_credit (tenant_id, customer_key, credit_limit, risk_rating) "
            "VALUES (?, ?, ?, ?)",
            (tenant_id, key, found.credit_limit, found.risk_rating),
        )


def derive_inventory(tx: Tx, tenant_id: str, key: str, product: Mapping[str, Any] | None) -> None:
    """Recalculate the product's inventory strategy (or drop it when the product is gone)."""
    tx.execute("DELETE FROM masterdata_inventory_strategies WHERE tenant_id = ? AND product_key = ?", (tenant_id, key))
    if product is not None:
        found = domain.inventory_strategy(product)
        tx.execute(
            "INSERT INTO masterdata_inventory_strategies (tenant_id, product_key, strategy, safety_stock_days) "
            "VALUES (?, ?, ?, ?)",
            (tenant_id, key, found.strategy, found.safety_stock_days),
        )


def derive_terms(tx: Tx, tenant_id: str, key: str, supplier: Mapping[str, Any] | None) -> None:
    """Adjust the supplier's payment terms (or drop them when the supplier is gone)."""
    tx.execute("DELETE FROM masterdata_payment_terms WHERE tenant_id = ? AND supplier_key = ?", (tenant_id, key))
    if supplier is not None:
        found = domain.payment_terms(supplier)
        tx.execute(
            "INSERT INTO masterdata_payment_terms (tenant_id, supplier_key, net_days, method, early_discount_percent) "
            "VALUES (?, ?, ?, ?, ?)",
            (tenant_id, key, found.net_days, found.method, found.early_discount_percent),
        )


def _read(table: str, key_column: str, columns: tuple[str, ...]) -> Callable[[Tx, str, str], dict[str, Any] | None]:
    def read(tx: Tx, tenant_id: str, key: str) -> dict[str, Any] | None:
        row = tx.one(
            f"SELECT {', '.join(columns)} FROM {table} WHERE tenant_id = ? AND {key_column} = ?", (tenant_id, key)
        )
        if row is None:
            return None
        return {c: str(v) if isinstance(v, Decimal) else v for c, v in zip(columns, row, strict=True)}

    return read


@dataclass(frozen=True, slots=True)
class DownstreamSystem:
    """One downstream system: how it copies and derives, and how to read what it derived."""

    spec: Downstream
    read_derived: Callable[[Tx, str, str], dict[str, Any] | None]


CUSTOMER_SERVICE = DownstreamSystem(
    Downstream("masterdata.customer-service", "customer", "masterdata_customer_copies", derive_credit, _credit_ddl),
    _read("masterdata_customer_credit", "customer_key", ("credit_limit", "risk_rating")),
)
PRODUCT_SERVICE = DownstreamSystem(
    Downstream("masterdata.product-service", "product", "masterdata_product_copies", derive_inventory, _inventory_ddl),
    _read("masterdata_inventory_strategies", "product_key", ("strategy", "safety_stock_days")),
)
SUPPLY_CHAIN = DownstreamSystem(
    Downstream("masterdata.supply-chain", "supplier", "masterdata_supplier_copies", derive_terms, _terms_ddl),
    _read("masterdata_payment_terms", "supplier_key", ("net_days", "method", "early_discount_percent")),
)
SYSTEMS: tuple[DownstreamSystem, ...] = (CUSTOMER_SERVICE, PRODUCT_SERVICE, SUPPLY_CHAIN)
