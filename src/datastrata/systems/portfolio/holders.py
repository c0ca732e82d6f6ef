"""The holders read model: who holds how much of each symbol, kept by a projection (no replay at query time)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from datastrata.core.events import Event
from datastrata.core.tenancy import current_tenant
from datastrata.projections.readmodels import SqlReadModel, slotted
from datastrata.runtime.tenantdata import TableSpec, register
from datastrata.stores.database import Dialect, Tx
from datastrata.stores.migrations import Migration
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


def _tenant_keys(dialect: Dialect) -> str:
    """Both slots keyed by ``(tenant, symbol, portfolio)``: two tenants' portfolios of one id are apart."""
    number = "TEXT" if dialect == "sqlite" else "NUMERIC"
    steps = []
    for table in ("portfolio_holdings", "portfolio_holdings_b"):
        if dialect == "sqlite":
            steps.append(f"""
CREATE TABLE {table}_v3 (
    tenant_id    TEXT NOT NULL DEFAULT 'default',
    symbol       TEXT NOT NULL,
    portfolio_id TEXT NOT NULL,
    quantity     {number} NOT NULL,
    PRIMARY KEY (tenant_id, symbol, portfolio_id)
);
INSERT INTO {table}_v3 SELECT 'default', symbol, portfolio_id, quantity FROM {table};
DROP TABLE {table};
ALTER TABLE {table}_v3 RENAME TO {table};
""")
        else:
            steps.append(f"""
ALTER TABLE {table} ADD COLUMN IF NOT EXISTS tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_pkey;
ALTER TABLE {table} ADD PRIMARY KEY (tenant_id, symbol, portfolio_id);
""")
    return "".join(steps)


class HoldersProjection(SqlReadModel):
    """Folds STOCK_BOUGHT / STOCK_SOLD into per-(symbol, portfolio) quantities."""

    name = "portfolio.holders"
    tables = ("portfolio_holdings",)
    #: The holders read model's schema, in both slots.
    migrations = slotted("portfolio.holders", _ddl, tables, Migration.from_ddl(3, "tenant", _tenant_keys))
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
        key = (event.tenant_id, symbol, portfolio_id)
        where = "WHERE tenant_id = ? AND symbol = ? AND portfolio_id = ?"
        held = tx.scalar(f"SELECT quantity FROM {table} {where}", key)
        quantity = (Decimal(str(held)) if held is not None else Decimal(0)) + delta
        if quantity == 0:
            tx.execute(f"DELETE FROM {table} {where}", key)
        else:
            tx.execute(
                f"INSERT INTO {table} (tenant_id, symbol, portfolio_id, quantity) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, symbol, portfolio_id) DO UPDATE SET quantity = excluded.quantity",
                (*key, quantity),
            )

    def holders(self, tx: Tx, symbol: str, tenant: str | None = None) -> list[tuple[str, Decimal]]:
        """Return (portfolio_id, quantity) for the tenant's holders of `symbol`, by portfolio id, from the live slot."""
        rows = tx.query(
            f"SELECT portfolio_id, quantity FROM {self.slot(tx)['portfolio_holdings']} "
            "WHERE tenant_id = ? AND symbol = ? ORDER BY portfolio_id",
            (current_tenant() if tenant is None else tenant, symbol),
        )
        return [(str(p), Decimal(str(q))) for p, q in rows]


#: The holders read model's schema (slot a, then slot b).
MIGRATIONS = HoldersProjection.migrations
register(
    "portfolio.holders",
    *(TableSpec(t, ("tenant_id", "symbol", "portfolio_id"), derived=True) for t in HoldersProjection.tables),
    TableSpec("portfolio_holdings_b", ("tenant_id", "symbol", "portfolio_id"), derived=True),
)
