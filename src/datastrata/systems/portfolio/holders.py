"""The holders read model: who holds how much of each symbol, kept by a projection (no replay at query time)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from datastrata.core.events import Event
from datastrata.projections.readmodels import SqlReadModel, slotted
from datastrata.stores.database import Dialect, Tx
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


class HoldersProjection(SqlReadModel):
    """Folds STOCK_BOUGHT / STOCK_SOLD into per-(symbol, portfolio) quantities."""

    name = "portfolio.holders"
    tables = ("portfolio_holdings",)
    #: The holders read model's schema, in both slots.
    migrations = slotted("portfolio.holders", _ddl, tables)
    event_types = frozenset({STOCK_BOUGHT, STOCK_SOLD})

    def apply_batch(self, tx: Tx, events: Sequence[Event]) -> None:
        """Add or subtract each traded quantity; a holding that reaches zero is removed."""
        table = self.slot(tx)["portfolio_holdings"]
        for event in events:
            self._fold(tx, table, event)

    @staticmethod
    def _fold(tx: Tx, table: str, event: Event) -> None:
        portfolio_id = event.stream_id.removeprefix("portfolio-")
        symbol = str(event.payload["symbol"])
        delta = Decimal(str(event.payload["quantity"]))
        if event.type == STOCK_SOLD:
            delta = -delta
        held = tx.scalar(f"SELECT quantity FROM {table} WHERE symbol = ? AND portfolio_id = ?", (symbol, portfolio_id))
        quantity = (Decimal(str(held)) if held is not None else Decimal(0)) + delta
        if quantity == 0:
            tx.execute(f"DELETE FROM {table} WHERE symbol = ? AND portfolio_id = ?", (symbol, portfolio_id))
        else:
            tx.execute(
                f"INSERT INTO {table} (symbol, portfolio_id, quantity) VALUES (?, ?, ?) "
                "ON CONFLICT (symbol, portfolio_id) DO UPDATE SET quantity = excluded.quantity",
                (symbol, portfolio_id, quantity),
            )

    def holders(self, tx: Tx, symbol: str) -> list[tuple[str, Decimal]]:
        """Return (portfolio_id, quantity) for every holder of `symbol`, by portfolio id, from the live slot."""
        rows = tx.query(
            f"SELECT portfolio_id, quantity FROM {self.slot(tx)['portfolio_holdings']} WHERE symbol = ? "
            "ORDER BY portfolio_id",
            (symbol,),
        )
        return [(str(p), Decimal(str(q))) for p, q in rows]


#: The holders read model's schema (slot a, then slot b).
MIGRATIONS = HoldersProjection.migrations
