"""The holders read model: who holds how much of each symbol, kept by a projection (no replay at query time)."""

from __future__ import annotations

from decimal import Decimal

from datastrata.core.events import Event
from datastrata.stores.database import Database, Dialect, Tx
from datastrata.stores.migrations import Component
from datastrata.systems.portfolio.domain import STOCK_BOUGHT, STOCK_SOLD


def _ddl(dialect: Dialect) -> str:
    number = "TEXT" if dialect == "sqlite" else "NUMERIC"
    return f"""
CREATE TABLE IF NOT EXISTS portfolio_holdings (
    symbol       TEXT NOT NULL,
    portfolio_id TEXT NOT NULL,
    quantity     {number} NOT NULL,
    PRIMARY KEY (symbol, portfolio_id)
);
"""


#: The holders read model's schema.
MIGRATIONS = Component.baseline("portfolio.holders", _ddl)


class HoldersProjection:
    """Folds STOCK_BOUGHT / STOCK_SOLD into per-(symbol, portfolio) quantities."""

    name = "portfolio.holders"
    event_types = frozenset({STOCK_BOUGHT, STOCK_SOLD})

    def setup(self, db: Database) -> None:
        """Create the holdings table."""
        db.ensure(MIGRATIONS)

    def apply(self, tx: Tx, event: Event) -> None:
        """Add or subtract the traded quantity; a holding that reaches zero is removed."""
        portfolio_id = event.stream_id.removeprefix("portfolio-")
        symbol = str(event.payload["symbol"])
        delta = Decimal(str(event.payload["quantity"]))
        if event.type == STOCK_SOLD:
            delta = -delta
        held = tx.scalar(
            "SELECT quantity FROM portfolio_holdings WHERE symbol = ? AND portfolio_id = ?", (symbol, portfolio_id)
        )
        quantity = (Decimal(str(held)) if held is not None else Decimal(0)) + delta
        if quantity == 0:
            tx.execute("DELETE FROM portfolio_holdings WHERE symbol = ? AND portfolio_id = ?", (symbol, portfolio_id))
        else:
            tx.execute(
                "INSERT INTO portfolio_holdings (symbol, portfolio_id, quantity) VALUES (?, ?, ?) "
                "ON CONFLICT (symbol, portfolio_id) DO UPDATE SET quantity = excluded.quantity",
                (symbol, portfolio_id, quantity),
            )

    def clear(self, tx: Tx) -> None:
        """Empty the read model."""
        tx.execute("DELETE FROM portfolio_holdings")

    @staticmethod
    def holders(tx: Tx, symbol: str) -> list[tuple[str, Decimal]]:
        """Return (portfolio_id, quantity) for every holder of `symbol`, by portfolio id."""
        rows = tx.query(
            "SELECT portfolio_id, quantity FROM portfolio_holdings WHERE symbol = ? ORDER BY portfolio_id", (symbol,)
        )
        return [(str(p), Decimal(str(q))) for p, q in rows]
