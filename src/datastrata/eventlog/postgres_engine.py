"""The event log on PostgreSQL: concurrent writers, and followers that never skip a late commit.

A position is ``(xid << 20) + n``: the appending transaction's id (``pg_current_xact_id()``) in the high bits and
the event's place within that transaction in the low bits. Every transaction whose id is below the snapshot's
``xmin`` has finished, so a follower that reads only positions below ``xmin << 20`` sees every event of those
transactions and can never later meet a smaller position: writers need no lock and commit in parallel.

One more rule keeps each stream's events in version order in the global order: a transaction may not append to a
stream whose latest event came from a transaction with a higher id (it began before that writer but looked after
it committed); it gets a ConcurrencyConflict and its retry, in a new transaction, gets a higher id.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from datastrata.core.errors import ValidationError
from datastrata.eventlog.engine import COLUMNS, NewRow, Outcome
from datastrata.eventlog.schema import POSITION_BITS
from datastrata.stores.database import Row, Tx

_SAFE = f"((pg_snapshot_xmin(pg_current_snapshot())::text::bigint << {POSITION_BITS}) - 1)"
_SELECT = COLUMNS.replace("payload, metadata", "payload::text, metadata::text")
_MAX_VALUES_ROWS = 500
_PER_TRANSACTION = 1 << POSITION_BITS

_APPEND = f"""
WITH me AS MATERIALIZED (SELECT pg_current_xact_id()::text::bigint AS xid),
last AS MATERIALIZED (
    SELECT version, position >> {POSITION_BITS} AS xid FROM eventlog_events
    WHERE stream_id = ? ORDER BY version DESC LIMIT 1),
state AS MATERIALIZED (
    SELECT me.xid,
           coalesce((SELECT version FROM last), 0) AS v,
           coalesce((SELECT xid FROM last), 0) AS last_xid,
           (SELECT count(*) FROM eventlog_events WHERE event_id = ANY(?)) AS dups,
           coalesce((SELECT max(position) FROM eventlog_events
                     WHERE position >= me.xid << {POSITION_BITS}
                       AND position < (me.xid + 1) << {POSITION_BITS}), me.xid << {POSITION_BITS}) AS p
    FROM me),
ins AS (
    INSERT INTO eventlog_events (position, tenant_id, stream_id, version, event_id, event_type, schema_version,
                                 payload, metadata, occurred_at, recorded_at)
    SELECT s.p + x.n, x.t, ?, s.v + x.n, x.i, x.ty, x.sv, x.pl::jsonb, x.m::jsonb, x.o, x.r
    FROM state s, {{rows}}
    WHERE s.dups = 0 AND s.last_xid <= s.xid AND (?::int IS NULL OR s.v = ?::int)
      AND s.p - (s.xid << {POSITION_BITS}) + ?::int < 1 << {POSITION_BITS}
    RETURNING position)
SELECT s.v, s.dups, s.last_xid > s.xid, (SELECT min(position) FROM ins), (SELECT count(*) FROM ins),
       s.p - (s.xid << {POSITION_BITS}) + ?::int >= 1 << {POSITION_BITS}
FROM state s
"""
_UNNEST = (
    "unnest(?::text[], ?::text[], ?::text[], ?::int[], ?::text[], ?::text[], ?::timestamptz[], ?::timestamptz[]) "
    "WITH ORDINALITY AS x(t, i, ty, sv, pl, m, o, r, n)"
)


def _values(n: int) -> str:
    rows = ",".join(f"(?,?,?,?::int,?,?,?::timestamptz,?::timestamptz,{k})" for k in range(1, n + 1))
    return f"(VALUES {rows}) AS x(t, i, ty, sv, pl, m, o, r, n)"


class PostgresEngine:
    """One round trip per append; gap-safe pages by transaction horizon."""

    def append(self, tx: Tx, stream_id: str, rows: Sequence[NewRow], expected: int | None) -> Outcome:
        """Probe and insert in one statement; insert nothing if a check fails."""
        if len(rows) >= _PER_TRANSACTION:
            raise ValidationError(
                f"one append holds at most {_PER_TRANSACTION - 1} events on PostgreSQL; got {len(rows)}: "
                "split the batch across transactions",
                field="events",
            )
        ids = [r[1] for r in rows]
        params: list[Any]
        if len(rows) <= _MAX_VALUES_ROWS:
            sql = _APPEND.replace("{rows}", _values(len(rows)))
            params = [
                stream_id,
                ids,
                stream_id,
                *[v for r in rows for v in r],
                expected,
                expected,
                len(rows),
                len(rows),
            ]
        else:
            sql = _APPEND.replace("{rows}", _UNNEST)
            params = [
                stream_id,
                ids,
                stream_id,
                *[list(c) for c in zip(*rows, strict=True)],
                expected,
                expected,
                len(rows),
                len(rows),
            ]
        row = tx.one(sql, params)
        assert row is not None
        current, duplicates, newer, first, count = int(row[0]), int(row[1]), bool(row[2]), row[3], int(row[4])
        if row[5] and not duplicates:
            raise ValidationError(
                f"one PostgreSQL transaction holds at most {_PER_TRANSACTION - 1} events; commit this batch in "
                "several transactions",
                field="events",
            )
        positions = list(range(int(first), int(first) + count)) if count else []
        return Outcome(current, duplicates, positions, newer_writer=newer and not duplicates)

    def page(self, tx: Tx, after: int, limit: int, types: Collection[str] | None) -> tuple[list[Row], int]:
        """Read below the snapshot's horizon, in one statement so the rows and the horizon share a snapshot."""
        type_filter = " AND e.event_type = ANY(?)" if types is not None else ""
        params: list[Any] = [after, *([list(types)] if types is not None else []), limit]
        rows = tx.query(
            f"WITH h AS MATERIALIZED (SELECT {_SAFE} AS safe) "
            f"SELECT h.safe, e.* FROM h LEFT JOIN LATERAL ("
            f"SELECT {_SELECT} FROM eventlog_events e WHERE e.position > ? AND e.position <= h.safe{type_filter} "
            f"ORDER BY e.position LIMIT ?) e ON true",
            params,
        )
        safe = int(rows[0][0])
        events = [r[1:] for r in rows if r[1] is not None]
        if len(events) == limit:
            return events, int(events[-1][0])
        return events, max(safe, after)

    def head(self, tx: Tx) -> int:
        """Return the highest stored position below the horizon."""
        return int(tx.scalar(f"SELECT coalesce(max(position), 0) FROM eventlog_events WHERE position <= {_SAFE}") or 0)
