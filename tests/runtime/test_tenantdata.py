"""The tenant-data registry names real tables, real key columns, and which rows one stream made."""

from __future__ import annotations

import pytest

from datastrata.catalog import components
from datastrata.core.errors import ConfigurationError
from datastrata.runtime.tenantdata import TableSpec, register, specs
from datastrata.stores.database import Database
from datastrata.stores.migrations import migrate


def test_every_registered_table_has_its_tenant_and_key_columns(db: Database) -> None:
    migrate(db, components())
    sql = (
        "SELECT name FROM pragma_table_info(?)"
        if db.dialect == "sqlite"
        else "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = ?"
    )
    found = specs()
    assert {"eventlog_events", "portfolio_holdings_b", "food_orders", "match_matches", "mlops_models"} <= {
        s.table for s in found
    }
    with db.read() as tx:
        for spec in found:
            columns = {str(r[0]) for r in tx.query(sql, (spec.table,))}
            assert spec.key[0] == "tenant_id" and set(spec.key) <= columns, spec.table


def test_rows_of_stream_picks_the_aggregates_rows() -> None:
    by_table = {s.table: s for s in specs()}
    goals = by_table["match_goals"].rows_of_stream
    orders = by_table["food_order_items"].rows_of_stream
    assert goals is not None and orders is not None
    assert goals("match-M1") == ("match_id = ?", ("M1",))
    assert goals("match.team-ARG") == ("1 = 0", ())
    assert orders("food-order-o1") == ("order_id = ?", ("o1",))
    assert by_table["portfolio_holdings"].derived and not by_table["food_orders"].derived


def test_a_table_has_one_owner() -> None:
    with pytest.raises(ConfigurationError, match="registered by 'food'"):
        register("other", TableSpec("food_orders", ("tenant_id", "order_id")))
