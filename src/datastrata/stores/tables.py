"""The tables of a store as a tenant's facts are found in them: which exist, their columns, which carry a tenant."""

from __future__ import annotations

from datastrata.stores.database import Tx


def table_names(tx: Tx) -> list[str]:
    """Every table of the store (PostgreSQL: of the current schema), sorted."""
    if tx.dialect == "sqlite":
        rows = tx.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    else:
        rows = tx.query(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
    return sorted(str(r[0]) for r in rows)


def columns_of(tx: Tx, table: str) -> list[tuple[str, str]]:
    """The `(name, declared type)` of each column of `table`, in table order."""
    if tx.dialect == "sqlite":
        return [(str(r[1]), str(r[2])) for r in tx.query(f'PRAGMA table_info("{table}")')]
    rows = tx.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
        (table,),
    )
    return [(str(r[0]), str(r[1])) for r in rows]


def tenant_tables(tx: Tx) -> list[str]:
    """Every table holding rows of tenants (it has a ``tenant_id`` column), sorted."""
    if tx.dialect == "sqlite":
        return [t for t in table_names(tx) if any(c == "tenant_id" for c, _ in columns_of(tx, t))]
    rows = tx.query(
        "SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
        "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
        "WHERE c.table_schema = current_schema() AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE'"
    )
    return sorted(str(r[0]) for r in rows)


def references(tx: Tx) -> dict[str, set[str]]:
    """For each table, the other tables its foreign keys point at."""
    found: dict[str, set[str]] = {}
    if tx.dialect == "sqlite":
        for table in table_names(tx):
            found[table] = {str(r[2]) for r in tx.query(f'PRAGMA foreign_key_list("{table}")')} - {table}
        return found
    rows = tx.query(
        "SELECT DISTINCT tc.table_name, ccu.table_name FROM information_schema.table_constraints tc "
        "JOIN information_schema.constraint_column_usage ccu "
        "ON ccu.constraint_name = tc.constraint_name AND ccu.constraint_schema = tc.constraint_schema "
        "WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema()"
    )
    for child, parent in rows:
        if child != parent:
            found.setdefault(str(child), set()).add(str(parent))
    return found


def children_first(tx: Tx, tables: list[str]) -> list[str]:
    """`tables` ordered so that a table comes before every table its foreign keys point at (safe to delete)."""
    points_at = references(tx)
    wanted = set(tables)
    ordered: list[str] = []
    placed: set[str] = set()

    def place(table: str, seen: frozenset[str]) -> None:
        if table in placed or table in seen:
            return
        for child in sorted(t for t in wanted if table in points_at.get(t, set())):
            place(child, seen | {table})
        placed.add(table)
        ordered.append(table)

    for table in sorted(wanted):
        place(table, frozenset())
    return ordered
