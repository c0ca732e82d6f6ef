"""The event log on SQLite: writers are serialised by BEGIN IMMEDIATE, so rowid order is commit order."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from datastrata.eventlog.engine import COLUMNS, CommonSql, NewRow, Outcome
from datastrata.stores.database import Row, Tx

_INSERT = (
    "INSERT INTO eventlog_events (tenant_id, stream_id, version, event_id, event_type, schema_version, "
    "payload, metadata, occurred_at, recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?)"
)


class SqliteEngine(CommonSql):
    """Probe, insert and read with plain SQL on one connection."""

    def append(self, tx: Tx, stream_id: str, rows: Sequence[NewRow], expected: int | None) -> Outcome:
        """Probe the version and the ids, then insert; positions are consecutive rowids."""
        ids = [r[1] for r in rows]
        marks = ",".join("?" * len(ids))
        probe = tx.one(
            "SELECT (SELECT max(version) FROM eventlog_events WHERE stream_id = ?), "
            f"(SELECT count(*) FROM eventlog_events WHERE event_id IN ({marks})), "
            "EXISTS (SELECT 1 FROM eventlog_archived_streams WHERE stream_id = ?)",
            (stream_id, *ids, stream_id),
        )
        assert probe is not None
        current, duplicates = int(probe[0] or 0), int(probe[1])
        if probe[2]:
            return Outcome(current, 0, [], closed=True)
        if duplicates or (expected is not None and expected != current):
            return Outcome(current, duplicates, [])
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
