"""The event log on SQLite: writers are serialised by BEGIN IMMEDIATE, so rowid order is commit order."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from typing import cast

from datastrata.eventlog.engine import COLUMNS, CommonSql, ImportRow, NewRow, Outcome
from datastrata.stores.database import Row, Tx

_INSERT = (
    "INSERT INTO eventlog_events (tenant_id, stream_id, version, event_id, event_type, schema_version, "
    "payload, metadata, occurred_at, recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?)"
)

_IMPORT = _INSERT + " ON CONFLICT (tenant_id, event_id) DO NOTHING"


class SqliteEngine(CommonSql):
    """Probe, insert and read with plain SQL on one connection."""

    def append(self, tx: Tx, tenant: str, stream_id: str, rows: Sequence[NewRow], expected: int | None) -> Outcome:
        """Probe the version and the ids, then insert; positions are consecutive rowids."""
        ids = [r[1] for r in rows]
        marks = ",".join("?" * len(ids))
        probe = tx.one(
            "SELECT (SELECT max(version) FROM eventlog_events WHERE tenant_id = ? AND stream_id = ?), "
            f"(SELECT count(*) FROM eventlog_events WHERE tenant_id = ? AND event_id IN ({marks})), "
            "EXISTS (SELECT 1 FROM eventlog_archived_streams WHERE tenant_id = ? AND stream_id = ?)",
            (tenant, stream_id, tenant, *ids, tenant, stream_id),
        )
        assert probe is not None
        current, duplicates = int(probe[0] or 0), int(probe[1])
        if probe[2]:
            return Outcome(current, 0, [], closed=True)
        if duplicates or (expected is not None and expected != current):
            return Outcome(current, duplicates, [])
        if len(rows) == 1:  # the usual command: its cursor knows the rowid (one statement fewer)
            r = rows[0]
            cursor = tx.execute(_INSERT, (r[0], stream_id, current + 1, r[1], r[2], r[3], r[4], r[5], r[6], r[7]))
            rowid = cast(sqlite3.Cursor, cursor).lastrowid
            assert rowid is not None  # set by every successful INSERT through execute()
            return Outcome(current, 0, [rowid])
        tx.executemany(
            _INSERT,
            [(r[0], stream_id, current + i + 1, r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for i, r in enumerate(rows)],
        )
        last = int(tx.scalar("SELECT last_insert_rowid()"))
        return Outcome(current, 0, list(range(last - len(rows) + 1, last + 1)))

    def page(self, tx: Tx, after: int, limit: int, types: Collection[str] | None) -> tuple[list[Row], int]:
        """Every committed row is safe to read (writers are serialised); one statement is one snapshot."""
        if types is None:
            rows = tx.query(
                f"SELECT {COLUMNS} FROM eventlog_events WHERE position > ? ORDER BY position LIMIT ?", (after, limit)
            )
            return rows, int(rows[-1][0]) if rows else after
        rows = tx.query(
            "WITH h AS (SELECT coalesce(max(position), 0) AS safe FROM eventlog_events) "
            f"SELECT e.*, h.safe FROM h LEFT JOIN (SELECT {COLUMNS} FROM eventlog_events "
            f"WHERE position > ? AND position <= (SELECT safe FROM h) AND event_type IN ({','.join('?' * len(types))}) "
            "ORDER BY position LIMIT ?) e",
            (after, *types, limit),
        )
        # The horizon rides as a trailing column the event decoder ignores: no row is copied to drop it.
        events = rows if rows[0][0] is not None else []
        if len(events) == limit:
            return events, int(events[-1][0])
        return events, max(int(rows[0][-1]), after)

    def head(self, tx: Tx) -> int:
        """Return the highest stored position."""
        return int(tx.scalar("SELECT coalesce(max(position), 0) FROM eventlog_events") or 0)

    def tenant_head(self, tx: Tx, tenant: str) -> int:
        """The tenant's last position (the end of its range of ``eventlog_events_by_tenant``)."""
        return int(
            tx.scalar("SELECT coalesce(max(position), 0) FROM eventlog_events WHERE tenant_id = ?", (tenant,)) or 0
        )

    def tenant_page(self, tx: Tx, tenant: str, after: int, limit: int) -> tuple[list[Row], int]:
        """One tenant's committed rows after `after`, and the head seen by the same statement (one snapshot: a
        commit between reading the rows and the head would otherwise be skipped)."""
        rows = tx.query(
            "WITH h AS (SELECT coalesce(max(position), 0) AS safe FROM eventlog_events) "
            f"SELECT e.*, h.safe FROM h LEFT JOIN (SELECT {COLUMNS} FROM eventlog_events "
            "WHERE tenant_id = ? AND position > ? AND position <= (SELECT safe FROM h) ORDER BY position LIMIT ?) e",
            (tenant, after, limit),
        )
        events = rows if rows[0][0] is not None else []
        if len(events) == limit:
            return events, int(events[-1][0])
        return events, max(int(rows[0][-1]), after)

    def import_rows(self, tx: Tx, rows: Sequence[ImportRow]) -> int:
        """Insert the rows at new rowids, skipping ``(tenant, event id)`` pairs stored already."""
        before = int(tx.scalar("SELECT total_changes()"))
        tx.executemany(_IMPORT, rows)
        return int(tx.scalar("SELECT total_changes()")) - before

    def delete_tenant(self, tx: Tx, tenant: str) -> int:
        """Delete the tenant's snapshots and archive records, then its events (their positions stay used)."""
        for table in ("eventlog_snapshots", "eventlog_archived_events", "eventlog_archived_streams"):
            tx.execute(f"DELETE FROM {table} WHERE tenant_id = ?", (tenant,))
        return int(tx.execute("DELETE FROM eventlog_events WHERE tenant_id = ?", (tenant,)).rowcount)
