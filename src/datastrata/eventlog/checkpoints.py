"""Where each consumer of the log stands: named checkpoints (with the log they follow) and lag from them.

The relay, projections and graph followers all keep their position here; it sits below them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from datastrata.core.clock import Clock, system_clock
from datastrata.core.errors import ConfigurationError
from datastrata.eventlog.log import EventLog
from datastrata.stores.database import Database, Dialect, Tx, time_to_db
from datastrata.stores.migrations import Component, Migration

_SLOTS_DDL = """
CREATE TABLE IF NOT EXISTS readmodel_slots (
    name        TEXT   PRIMARY KEY,
    active      TEXT   NOT NULL CHECK (active IN ('a', 'b')),
    building    TEXT   CHECK (building IN ('a', 'b')),
    switches    BIGINT NOT NULL DEFAULT 0,
    switched_at {time}
);
"""

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


def slots_ddl(dialect: Dialect) -> str:
    """Return the DDL of the A/B read-model pointer table (a migration of the checkpoints component)."""
    return _SLOTS_DDL.format(time="TEXT" if dialect == "sqlite" else "TIMESTAMPTZ")


#: The checkpoint table's schema; then the identity of the log each checkpoint follows; then the A/B slot pointers.
MIGRATIONS = Component.baseline(
    "checkpoints",
    ddl,
    Migration.both(2, "log_id", "ALTER TABLE projection_checkpoints ADD COLUMN log_id TEXT;"),
    Migration.from_ddl(3, "readmodel_slots", slots_ddl),
)


@dataclass(frozen=True, slots=True)
class Mark:
    """A checkpoint as stored: the position applied up to and the identity of the log it was applied from."""

    position: int
    log_id: str | None = None


def check_identity(mark: Mark, identity: str, *, where: str, fix: str) -> None:
    """Refuse a checkpoint made against another log, in one line naming both identities and the fix."""
    if mark.log_id is not None and mark.log_id != identity:
        raise ConfigurationError(f"{where} follows log {mark.log_id}, this store's log is {identity}; {fix}")


class Checkpoints:
    """Reads and moves named checkpoints; moves happen inside the caller's transaction."""

    def __init__(self, db: Database, *, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock
        db.ensure(MIGRATIONS)

    def get(self, name: str) -> int:
        """Return the position `name` has processed up to (0 when it never ran)."""
        return self.mark(name).position

    def mark(self, name: str) -> Mark:
        """Return the checkpoint `name` with the log identity it follows."""
        with self.db.read() as tx:
            return self.mark_in(tx, name)

    def get_in(self, tx: Tx, name: str, *, for_update: bool = False) -> int:
        """Return the checkpoint inside `tx`; with `for_update`, lock it against a concurrent runner."""
        return self.mark_in(tx, name, for_update=for_update).position

    def mark_in(self, tx: Tx, name: str, *, for_update: bool = False) -> Mark:
        """Return the checkpoint and its log identity inside `tx` (locked with `for_update`)."""
        lock = " FOR UPDATE" if for_update and tx.dialect == "postgresql" else ""
        sql = f"SELECT position, log_id FROM projection_checkpoints WHERE name = ?{lock}"
        row = tx.one(sql, (name,))
        if row is None and for_update:
            tx.execute(
                "INSERT INTO projection_checkpoints (name, position, event_id, updated_at) VALUES (?, 0, NULL, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (name, time_to_db(tx.dialect, self.clock())),
            )
            if tx.dialect == "postgresql":
                row = tx.one(sql, (name,))
        if row is None:
            return Mark(0)
        return Mark(int(row[0] or 0), str(row[1]) if row[1] else None)

    def set_in(self, tx: Tx, name: str, position: int, event_id: str | None, log_id: str | None = None) -> None:
        """Move checkpoint `name` to `position` inside `tx`, recording the log it follows (kept when None)."""
        tx.execute(
            "INSERT INTO projection_checkpoints (name, position, event_id, updated_at, log_id) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position, event_id = excluded.event_id, "
            "updated_at = excluded.updated_at, "
            "log_id = coalesce(excluded.log_id, projection_checkpoints.log_id)",
            (name, position, event_id, time_to_db(tx.dialect, self.clock()), log_id),
        )

    def delete_in(self, tx: Tx, name: str) -> None:
        """Forget checkpoint `name` inside `tx` (a finished rebuild's own checkpoint)."""
        tx.execute("DELETE FROM projection_checkpoints WHERE name = ?", (name,))

    def all(self) -> dict[str, int]:
        """Return every checkpoint by name."""
        with self.db.read() as tx:
            return {str(n): int(p) for n, p in tx.query("SELECT name, position FROM projection_checkpoints")}


@dataclass(frozen=True, slots=True)
class Lag:
    """How far a consumer of the log is behind: its checkpoint, the log's head, and the events in between."""

    name: str
    position: int
    head: int
    behind: int

    @classmethod
    def of(cls, name: str, position: int, log: EventLog) -> Lag:
        """Measure the lag of a consumer at `position` (positions are sparse, so events are counted)."""
        head = log.head()
        return cls(name, position, head, log.count(after=position, upto=head) if position < head else 0)
