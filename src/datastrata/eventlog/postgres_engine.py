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
from weakref import WeakKeyDictionary

import orjson

from datastrata.core.errors import ValidationError
from datastrata.eventlog.engine import COLUMNS, CommonSql, ImportRow, NewRow, Outcome
from datastrata.eventlog.schema import PARTIAL_BATCH_SQLSTATE, POSITION_BITS
from datastrata.stores.database import Row, Tx

_SAFE = f"((pg_snapshot_xmin(pg_current_snapshot())::text::bigint << {POSITION_BITS}) - 1)"
#: A tenant's head. Not ``max(position)`` over the rows row-level security lets through: that walks the position
#: index backwards past every other tenant's events to the tenant's last one (the whole log for a tenant without
#: events); this reads the end of the tenant's own range of ``eventlog_events_by_tenant``.
TENANT_HEAD = (
    "SELECT coalesce((SELECT position FROM eventlog_events WHERE tenant_id = ? AND position <= "
    f"{_SAFE} ORDER BY tenant_id DESC, position DESC LIMIT 1), 0)"
)
_SELECT = COLUMNS.replace("payload, metadata", "payload::text, metadata::text")
_PER_TRANSACTION = 1 << POSITION_BITS
#: Positions each open transaction has used so far: its next append numbers its events after them.
_used: WeakKeyDictionary[Tx, int] = WeakKeyDictionary()

_APPEND = f"""
WITH last AS MATERIALIZED (
    SELECT version, position >> {POSITION_BITS} AS xid FROM eventlog_events
    WHERE tenant_id = ? AND stream_id = ? ORDER BY version DESC LIMIT 1),
me AS MATERIALIZED (
    SELECT pg_current_xact_id()::text::bigint AS xid,
           coalesce((SELECT version FROM last), 0) AS v,
           coalesce((SELECT xid FROM last), 0) AS last_xid,
           EXISTS (SELECT 1 FROM eventlog_archived_streams WHERE tenant_id = ? AND stream_id = ?) AS closed),
ins AS (
    INSERT INTO eventlog_events (position, tenant_id, stream_id, version, event_id, event_type, schema_version,
                                 payload, metadata, occurred_at, recorded_at)
    SELECT (me.xid << {POSITION_BITS}) + ?::bigint + x.n, x.t, ?, me.v + x.n, x.i, x.ty, x.sv, x.pl, x.m, x.o, x.r
    FROM me, ({{rows}}) AS x
    WHERE me.last_xid <= me.xid AND NOT me.closed AND (?::int IS NULL OR me.v = ?::int)
    ON CONFLICT (tenant_id, event_id) DO NOTHING
    RETURNING position),
done AS (SELECT min(position) AS first, count(*) AS n FROM ins)
SELECT me.v, me.last_xid > me.xid, done.first, done.n, me.closed{{refuse}}
FROM me, done
"""
#: One event: scalar parameters (a short statement that psycopg caches and PostgreSQL keeps one plan for).
_APPEND_ONE = _APPEND.replace("{refuse}", "").replace(
    "{rows}",
    "SELECT ?::text AS t, ?::text AS i, ?::text AS ty, ?::int AS sv, ?::jsonb AS pl, ?::jsonb AS m, "
    "?::timestamptz AS o, ?::timestamptz AS r, 1::bigint AS n",
)
#: A batch: one parameter, a JSON array of rows with the payloads embedded, however many events it holds.
_APPEND_MANY = _APPEND.replace(
    "{refuse}",
    ",\n       CASE WHEN done.n BETWEEN 1 AND ?::int - 1 THEN eventlog_refuse_partial_batch(done.n, ?::int) END",
).replace(
    "{rows}",
    "SELECT b.v->>0 AS t, b.v->>1 AS i, b.v->>2 AS ty, (b.v->>3)::int AS sv, b.v->4 AS pl, b.v->5 AS m, "
    "(b.v->>6)::timestamptz AS o, (b.v->>7)::timestamptz AS r, b.n FROM jsonb_array_elements(?::jsonb) "
    "WITH ORDINALITY AS b(v, n)",
)


class PostgresEngine(CommonSql):
    """One round trip per append; gap-safe pages by transaction horizon."""

    select = _SELECT

    def append(self, tx: Tx, tenant: str, stream_id: str, rows: Sequence[NewRow], expected: int | None) -> Outcome:
        """Probe and insert in one statement; insert nothing if a check fails."""
        n = len(rows)
        offset = _offset(tx, n)
        if n == 1:
            head = [tenant, stream_id, tenant, stream_id, offset, stream_id]
            sql, params = _APPEND_ONE, [*head, *rows[0], expected, expected]
        else:
            batch = orjson.dumps(
                [(t, i, ty, sv, orjson.Fragment(pl), orjson.Fragment(m), o, r) for t, i, ty, sv, pl, m, o, r in rows]
            ).decode()
            head = [tenant, stream_id, tenant, stream_id, offset, stream_id]
            sql, params = _APPEND_MANY, [*head, batch, expected, expected, n, n]
        try:
            row = tx.one(sql, params)
        except Exception as exc:
            if getattr(exc, "sqlstate", None) == PARTIAL_BATCH_SQLSTATE:
                raise ValidationError(
                    "some events of this batch are stored already and some are new; retry with exactly the original "
                    "batch or with new event ids",
                    field="event_id",
                ) from None
            raise
        assert row is not None
        current, newer, first, count = int(row[0]), bool(row[1]), row[2], int(row[3])
        if row[4]:
            return Outcome(current, 0, [], closed=True)
        if count:
            _used[tx] = offset + count
            return Outcome(current, 0, list(range(int(first), int(first) + count)))
        duplicates = len(self.by_ids(tx, tenant, [r[1] for r in rows]))
        return Outcome(current, duplicates, [], newer_writer=newer and not duplicates)

    def page(self, tx: Tx, after: int, limit: int, types: Collection[str] | None) -> tuple[list[Row], int]:
        """Read below the snapshot's horizon, in one statement so the rows and the horizon share a snapshot.

        The inner scan is bounded below only (``position > after … LIMIT``) and the horizon is applied to its
        result: rows past the horizon can only be the newest, so a page cut by it still holds every safe row. Both
        numbers are written into the SQL, so PostgreSQL plans each page for the table as it is now: a cached generic
        plan, made while the log was small, could sort the whole tail of the log for every page.
        """
        type_filter = " AND e.event_type = ANY(?)" if types is not None else ""
        rows = tx.query(
            f"WITH h AS MATERIALIZED (SELECT {_SAFE} AS safe) "
            f"SELECT e.*, h.safe FROM h LEFT JOIN LATERAL ("
            f"SELECT {_SELECT} FROM eventlog_events e WHERE e.position > {int(after)}{type_filter} "
            f"ORDER BY e.position LIMIT {int(limit)}) e ON e.position <= h.safe",
            [list(types)] if types is not None else [],
        )
        # The horizon rides as a trailing column the event decoder ignores: no row is copied to drop it.
        safe = int(rows[0][-1])
        events = rows if rows[0][0] is not None else []
        if len(events) == limit:
            return events, int(events[-1][0])
        return events, max(safe, after)

    def head(self, tx: Tx) -> int:
        """Return the highest stored position below the horizon."""
        return int(tx.scalar(f"SELECT coalesce(max(position), 0) FROM eventlog_events WHERE position <= {_SAFE}") or 0)

    def tenant_head(self, tx: Tx, tenant: str) -> int:
        """The tenant's last position below the horizon: one probe of the ``(tenant_id, position)`` index."""
        return int(tx.scalar(TENANT_HEAD, (tenant,)) or 0)

    def tenant_page(self, tx: Tx, tenant: str, after: int, limit: int) -> tuple[list[Row], int]:
        """One tenant's rows below the snapshot's horizon, in one statement (see :meth:`page`)."""
        rows = tx.query(
            f"WITH h AS MATERIALIZED (SELECT {_SAFE} AS safe) "
            f"SELECT e.*, h.safe FROM h LEFT JOIN LATERAL ("
            f"SELECT {_SELECT} FROM eventlog_events e WHERE e.tenant_id = ? AND e.position > {int(after)} "
            f"ORDER BY e.position LIMIT {int(limit)}) e ON e.position <= h.safe",
            [tenant],
        )
        safe = int(rows[0][-1])
        events = rows if rows[0][0] is not None else []
        if len(events) == limit:
            return events, int(events[-1][0])
        return events, max(safe, after)

    def import_rows(self, tx: Tx, rows: Sequence[ImportRow]) -> int:
        """Insert the rows at this transaction's next positions in one statement, skipping stored ids."""
        offset = _offset(tx, len(rows))
        batch = orjson.dumps(
            [(*r[:6], orjson.Fragment(r[6]), orjson.Fragment(r[7]), r[8], r[9]) for r in rows]
        ).decode()
        count = int(tx.scalar(_IMPORT, [offset, batch]) or 0)
        _used[tx] = offset + len(rows)
        return count

    def delete_tenant(self, tx: Tx, tenant: str) -> int:
        """Delete the tenant's log through the owner's function (the application roles may not delete events)."""
        return int(tx.scalar("SELECT eventlog_delete_tenant(?)", (tenant,)) or 0)


def _offset(tx: Tx, n: int) -> int:
    """The positions `tx` used so far, refusing a transaction that would need more than one xid's range."""
    offset = _used.get(tx, 0)
    if offset + n >= _PER_TRANSACTION:
        raise ValidationError(
            f"one PostgreSQL transaction holds at most {_PER_TRANSACTION - 1} events; this one has {offset} and "
            f"the append adds {n}: commit the events in several transactions",
            field="events",
        )
    return offset


_IMPORT = f"""
WITH ins AS (
    INSERT INTO eventlog_events (position, tenant_id, stream_id, version, event_id, event_type, schema_version,
                                 payload, metadata, occurred_at, recorded_at)
    SELECT (pg_current_xact_id()::text::bigint << {POSITION_BITS}) + ?::bigint + b.n, b.v->>0, b.v->>1,
           (b.v->>2)::int, b.v->>3, b.v->>4, (b.v->>5)::int, b.v->6, b.v->7, (b.v->>8)::timestamptz,
           (b.v->>9)::timestamptz
    FROM jsonb_array_elements(?::jsonb) WITH ORDINALITY AS b(v, n)
    ON CONFLICT (tenant_id, event_id) DO NOTHING
    RETURNING 1)
SELECT count(*) FROM ins
"""
