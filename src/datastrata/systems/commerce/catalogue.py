"""The product catalogue service: products with a price, found by full-text search (SQLite FTS5, PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from datastrata.core.errors import NotFound
from datastrata.core.events import NewEvent
from datastrata.runtime.location import Work
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.stores.database import time_to_db
from datastrata.systems.commerce.domain import (
    CATALOGUE,
    PRODUCT_ADDED,
    check_id,
    description_text,
    fts5_query,
    money,
    name_text,
    search_words,
)
from datastrata.writes.commands import CommandHandler

#: The most products one search returns.
MAX_RESULTS = 100


@dataclass(frozen=True, slots=True)
class Product:
    """A product of the catalogue."""

    sku: str
    name: str
    description: str
    price: Decimal

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape (the price as exact decimal text)."""
        return {"sku": self.sku, "name": self.name, "description": self.description, "price": str(self.price)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Product:
        """Rebuild a product from :meth:`to_dict`."""
        return cls(str(data["sku"]), str(data["name"]), str(data["description"]), Decimal(str(data["price"])))


class CatalogueService:
    """Adds products and answers searches and price look-ups; other services ask it, never its tables."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.commands = CommandHandler(runtime)

    def add(
        self, sku: object, name: object, price: object, *, description: object = "", key: str | None = None
    ) -> Product:
        """Add a product, or change its name, description and price (same SKU); indexed for search at once."""
        product = Product(check_id(sku, field="sku"), name_text(name), description_text(description), money(price))
        scope = Scope.of(CATALOGUE, product.sku)

        def body(work: Work) -> Product:
            _write(work, product, self.runtime.clock())
            work.append([NewEvent(PRODUCT_ADDED, product.to_dict())])
            return product

        return self.commands.run(
            "add", scope, body, encode=Product.to_dict, decode=Product.from_dict,
            key=key, content=product.to_dict(),
        )  # fmt: skip

    def get(self, sku: object) -> Product:
        """Return the product `sku`."""
        code = check_id(sku, field="sku")
        with self.runtime.read(Scope.of(CATALOGUE, code)) as work:
            row = work.one(
                "SELECT sku, name, description, price FROM commerce_products WHERE tenant_id = ? AND sku = ?",
                (work.scope.tenant, code),
            )
        if row is None:
            raise NotFound(f"no product {code!r} in the catalogue; add it with `commerce product add`", field="sku")
        return _product(row)

    def prices(self, skus: list[str]) -> dict[str, Product]:
        """Return the products of `skus` that exist (for pricing an order)."""
        if not skus:
            return {}
        with self.runtime.read(Scope.of(CATALOGUE)) as work:
            marks = ", ".join("?" for _ in skus)
            rows = work.query(
                f"SELECT sku, name, description, price FROM commerce_products WHERE tenant_id = ? AND sku IN ({marks})",
                (work.scope.tenant, *skus),
            )
        return {str(r[0]): _product(r) for r in rows}

    def search(self, query: object, *, limit: int = 20) -> list[Product]:
        """Return the products whose name or description holds every word of `query`, best match first."""
        words = search_words(query)
        limit = max(1, min(limit, MAX_RESULTS))
        with self.runtime.read(Scope.of(CATALOGUE)) as work:
            if work.dialect == "sqlite":
                rows = work.query(
                    "SELECT p.sku, p.name, p.description, p.price FROM commerce_products_fts f "
                    "JOIN commerce_products p ON p.tenant_id = f.tenant_id AND p.sku = f.sku "
                    "WHERE commerce_products_fts MATCH ? AND f.tenant_id = ? ORDER BY f.rank, p.sku LIMIT ?",
                    (fts5_query(words), work.scope.tenant, limit),
                )
            else:
                rows = work.query(
                    "SELECT sku, name, description, price FROM commerce_products "
                    "WHERE tenant_id = ? AND search @@ plainto_tsquery('simple', ?) "
                    "ORDER BY ts_rank(search, plainto_tsquery('simple', ?)) DESC, sku LIMIT ?",
                    (work.scope.tenant, " ".join(words), " ".join(words), limit),
                )
        return [_product(r) for r in rows]


def _write(work: Work, product: Product, now: Any) -> None:
    tenant = work.scope.tenant
    work.execute("DELETE FROM commerce_products WHERE tenant_id = ? AND sku = ?", (tenant, product.sku))
    work.execute(
        "INSERT INTO commerce_products (tenant_id, sku, name, description, price, added_at) VALUES (?, ?, ?, ?, ?, ?)",
        (tenant, product.sku, product.name, product.description, product.price, time_to_db(work.dialect, now)),
    )
    if work.dialect == "sqlite":  # the FTS5 index, in the same transaction as the row
        work.execute("DELETE FROM commerce_products_fts WHERE tenant_id = ? AND sku = ?", (tenant, product.sku))
        work.execute(
            "INSERT INTO commerce_products_fts (tenant_id, sku, name, description) VALUES (?, ?, ?, ?)",
            (tenant, product.sku, product.name, product.description),
        )


def _product(row: Any) -> Product:
    return Product(str(row[0]), str(row[1]), str(row[2]), Decimal(str(row[3])))
