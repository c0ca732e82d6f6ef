"""What the event log needs from an engine: one probe-and-insert and one ordered, gap-safe page read."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from datastrata.stores.database import Row, Tx, time_to_db

#: The columns every read selects, in this order (payload and metadata as JSON text).
COLUMNS = (
    "position, tenant_id, stream_id, version, event_id, event_type, schema_version, "
    "payload, metadata, occurred_at, recorded_at"
)
#: What an append stores per event, in this order.
NewRow = tuple[str, str, str, int, str, str, Any, Any]  # tenant, event_id, type, schema, payload, metadata, occ, rec
#: What an import stores per event: the stream and version it had, then a NewRow's fields.
ImportRow = tuple[str, str, int, str, str, int, str, str, Any, Any]  # tenant, stream, version, id, type, schema, …


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the engine found and did: the stream's version before, duplicates, and the new positions."""

    current: int
    duplicates: int
    positions: list[int]
    newer_writer: bool = False
    #: The stream is archived (closed): nothing was inserted.
    closed: bool = False


class Engine(Protocol):
    """SQL for one dialect."""

    def append(self, tx: Tx, tenant: str, stream_id: str, rows: Sequence[NewRow], expected: int | None) -> Outcome:
        """Insert `rows` into the tenant's stream unless an id is stored already or the stream is not at `expected`."""

    def page(self, tx: Tx, after: int, limit: int, types: Collection[str] | None) -> tuple[list[Row], int]:
        """Return rows after `after` in position order that no later commit can precede, and the safe horizon."""

    def head(self, tx: Tx) -> int:
        """Return the highest position a follower may safely read up to."""

    def tenant_head(self, tx: Tx, tenant: str) -> int:
        """Return the highest safe position of one tenant's events (an index probe, never a scan of the log)."""

    def tenant_page(self, tx: Tx, tenant: str, after: int, limit: int) -> tuple[list[Row], int]:
        """Return one tenant's rows after `after` that no later commit can precede, and the safe horizon."""

    def stream(
        self,
        tx: Tx,
        tenant: str,
        stream_id: str,
        from_version: int,
        to_version: int | None,
        until: Any,
        limit: int | None,
    ) -> list[Row]:
        """Return one stream's rows in version order (`until`: a UTC datetime bound on ``occurred_at``)."""

    def by_ids(self, tx: Tx, tenant: str, event_ids: Sequence[str]) -> list[Row]:
        """Return the tenant's stored rows of `event_ids`, in position order (a retried append's lookup)."""

    def import_rows(self, tx: Tx, rows: Sequence[ImportRow]) -> int:
        """Insert stored events of other logs at new positions, skipping ``(tenant, event id)`` already here."""

    def delete_tenant(self, tx: Tx, tenant: str) -> int:
        """Delete every event, snapshot and archive record of `tenant`; return how many events went."""

    def count(self, tx: Tx, after: int, upto: int) -> int:
        """Count the events with `after` < position <= `upto`."""

    def version(self, tx: Tx, tenant: str, stream_id: str) -> int:
        """Return the stream's current version (0: no events)."""

    def identity(self, tx: Tx) -> str:
        """Return the log's identity (created with its schema)."""

    def renew_identity(self, tx: Tx, new_id: str, restored_at: datetime, backup_taken_at: datetime) -> str:
        """Give the log the identity `new_id`, recording the old one it was restored from; return the old one."""

    def lineage(self, tx: Tx) -> list[Row]:
        """Return ``(log_id, restored_from, restored_at, backup_taken_at)`` of each restore, oldest first."""


class CommonSql:
    """The statements both dialects share; `select` is the dialect's column list (JSON as text)."""

    select: str = COLUMNS

    def stream(
        self,
        tx: Tx,
        tenant: str,
        stream_id: str,
        from_version: int,
        to_version: int | None,
        until: Any,
        limit: int | None,
    ) -> list[Row]:
        """Return one stream's rows in version order, bounded by version, business time or count."""
        sql = f"SELECT {self.select} FROM eventlog_events WHERE tenant_id = ? AND stream_id = ? AND version >= ?"
        params: list[Any] = [tenant, stream_id, from_version]
        if to_version is not None:
            sql += " AND version <= ?"
            params.append(to_version)
        if until is not None:
            sql += " AND occurred_at <= ?"
            params.append(time_to_db(tx.dialect, until))
        sql += " ORDER BY version"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return tx.query(sql, params)

    def by_ids(self, tx: Tx, tenant: str, event_ids: Sequence[str]) -> list[Row]:
        """Return the tenant's stored rows of `event_ids`, in position order."""
        marks = ",".join("?" * len(event_ids))
        return tx.query(
            f"SELECT {self.select} FROM eventlog_events WHERE tenant_id = ? AND event_id IN ({marks}) "
            "ORDER BY position",
            [tenant, *event_ids],
        )

    def count(self, tx: Tx, after: int, upto: int) -> int:
        """Count the events with `after` < position <= `upto`."""
        sql = "SELECT count(*) FROM eventlog_events WHERE position > ? AND position <= ?"
        return int(tx.scalar(sql, (after, upto)) or 0)

    def version(self, tx: Tx, tenant: str, stream_id: str) -> int:
        """Return the stream's current version (0: no events)."""
        sql = "SELECT coalesce(max(version), 0) FROM eventlog_events WHERE tenant_id = ? AND stream_id = ?"
        return int(tx.scalar(sql, (tenant, stream_id)) or 0)

    def identity(self, tx: Tx) -> str:
        """Return the log's identity (created with its schema)."""
        return str(tx.scalar("SELECT log_id FROM eventlog_identity WHERE singleton = 1"))

    def renew_identity(self, tx: Tx, new_id: str, restored_at: datetime, backup_taken_at: datetime) -> str:
        """Give the log the identity `new_id`, recording the old one it was restored from; return the old one."""
        old = self.identity(tx)
        tx.execute("UPDATE eventlog_identity SET log_id = ? WHERE singleton = 1", (new_id,))
        tx.execute(
            "INSERT INTO eventlog_lineage (log_id, restored_from, restored_at, backup_taken_at) VALUES (?, ?, ?, ?)",
            (new_id, old, time_to_db(tx.dialect, restored_at), time_to_db(tx.dialect, backup_taken_at)),
        )
        return old

    def lineage(self, tx: Tx) -> list[Row]:
        """Return ``(log_id, restored_from, restored_at, backup_taken_at)`` of each restore, oldest first."""
        return tx.query(
            "SELECT log_id, restored_from, restored_at, backup_taken_at FROM eventlog_lineage ORDER BY restored_at"
        )
