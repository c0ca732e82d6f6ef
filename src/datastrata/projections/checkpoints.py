"""Checkpoints: how far each consumer of the log has got, stored beside its read model."""

from __future__ import annotations

from datastrata.core.clock import Clock, system_clock
from datastrata.stores.database import Database, Dialect, Tx, time_to_db
from datastrata.stores.migrations import Component

_DDL = """
CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name       TEXT    PRIMARY KEY,
    position   BIGINT  NOT NULL,
    event_id   TEXT,
    updated_at {time} NOT NULL
);
"""


def ddl(dialect: Dialect) -> str:
    """Return the checkpoint table's DDL."""
    return _DDL.format(time="TEXT" if dialect == "sqlite" else "TIMESTAMPTZ")


#: The checkpoint table's schema.
MIGRATIONS = Component.baseline("checkpoints", ddl)


class Checkpoints:
    """Reads and moves named checkpoints; moves happen inside the caller's transaction."""

    def __init__(self, db: Database, *, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock
        db.ensure(MIGRATIONS)

    def get(self, name: str) -> int:
        """Return the position `name` has processed up to (0 when it never ran)."""
        with self.db.read() as tx:
            return self.get_in(tx, name)

    def get_in(self, tx: Tx, name: str, *, for_update: bool = False) -> int:
        """Return the checkpoint inside `tx`; with `for_update`, lock it against a concurrent runner."""
        lock = " FOR UPDATE" if for_update and tx.dialect == "postgresql" else ""
        value = tx.scalar(f"SELECT position FROM projection_checkpoints WHERE name = ?{lock}", (name,))
        if value is None and for_update:
            tx.execute(
                "INSERT INTO projection_checkpoints (name, position, event_id, updated_at) VALUES (?, 0, NULL, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (name, time_to_db(tx.dialect, self.clock())),
            )
            if tx.dialect == "postgresql":
                value = tx.scalar(f"SELECT position FROM projection_checkpoints WHERE name = ?{lock}", (name,))
        return int(value or 0)

    def set_in(self, tx: Tx, name: str, position: int, event_id: str | None) -> None:
        """Move checkpoint `name` to `position` inside `tx`."""
        tx.execute(
            "INSERT INTO projection_checkpoints (name, position, event_id, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position, event_id = excluded.event_id, "
            "updated_at = excluded.updated_at",
            (name, position, event_id, time_to_db(tx.dialect, self.clock())),
        )

    def all(self) -> dict[str, int]:
        """Return every checkpoint by name."""
        with self.db.read() as tx:
            return {str(n): int(p) for n, p in tx.query("SELECT name, position FROM projection_checkpoints")}
