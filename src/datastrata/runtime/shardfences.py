"""Range fences: a shard move fences only its slot runs and pinned keys at the source; every other key keeps writing.

Like a tenant's fence (:mod:`datastrata.runtime.fences`) but one row per slot run (``shard_key = ''``) or pinned key
(``lo = hi = -1``) of one move, in the shard location, named by the move's subject and the map. Every statement
about a slot gets the next ``seq``, and a writer obeys the newest row covering its key (a slot that moved away and
came back is open again). A writer of a sharded context reads its key's row in its own transaction (PostgreSQL:
``FOR SHARE``, so the move's ``fenced`` waits for it); ``moved`` at an epoch newer than the writer's routing
decision means its map is stale: it re-reads the map and retries on the new shard.
"""

from __future__ import annotations

from datastrata.core.clock import Clock, system_clock
from datastrata.runtime.slotrange import SlotRange
from datastrata.stores.database import Database, Dialect, Tx, time_to_db
from datastrata.stores.migrations import Component, Migration


def _ddl(dialect: Dialect) -> str:
    time = "TEXT" if dialect == "sqlite" else "TIMESTAMPTZ"
    whole = "INTEGER" if dialect == "sqlite" else "BIGINT"
    return f"""
CREATE TABLE IF NOT EXISTS sharding_fences (
    subject   TEXT    NOT NULL,
    map_name  TEXT    NOT NULL,
    lo        INTEGER NOT NULL,
    hi        INTEGER NOT NULL,
    shard_key TEXT    NOT NULL,
    seq       {whole} NOT NULL,
    epoch     {whole} NOT NULL,
    state     TEXT    NOT NULL CHECK (state IN ('open', 'fenced', 'moved')),
    set_at    {time}  NOT NULL,
    PRIMARY KEY (subject, lo, hi, shard_key)
);
CREATE INDEX IF NOT EXISTS sharding_fences_by_slot ON sharding_fences (map_name, shard_key, lo, hi);
CREATE TABLE IF NOT EXISTS sharding_reshards (
    plan_id    TEXT   PRIMARY KEY,
    map_name   TEXT   NOT NULL,
    plan       TEXT   NOT NULL,
    created_at {time} NOT NULL
);
CREATE INDEX IF NOT EXISTS sharding_reshards_by_map ON sharding_reshards (map_name, created_at);
"""


#: The range fences (every location) and the reshard plans (the home location): a spine component.
MIGRATIONS = Component("sharding.reshard", (Migration.from_ddl(1, "baseline", _ddl),))


def put(
    db: Database,
    subject: str,
    map_name: str,
    slots: SlotRange,
    state: str,
    epoch: int,
    *,
    clock: Clock = system_clock,
) -> None:
    """Write the fence of every run and key of `slots` as `state` at `epoch`, in one transaction (newest statement).

    A move's rows are written once (its first statement); every later one is a single ``UPDATE`` of the subject's
    rows (a jump reshard's range has thousands of runs, and the switch states two of them while the range is fenced).
    """
    with db.transaction() as tx:
        seq = int(tx.scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM sharding_fences") or 1)
        at = time_to_db(tx.dialect, clock())
        updated = tx.execute(
            "UPDATE sharding_fences SET seq = ?, epoch = ?, state = ?, set_at = ? WHERE subject = ? AND map_name = ?",
            (seq, epoch, state, at, subject, map_name),
        ).rowcount
        if int(updated or 0) == len(slots.runs) + len(slots.keys):
            return  # a subject's rows are its range's (both ends of a move journal the same range)
        rows = [(subject, map_name, lo, hi, "", seq, epoch, state, at) for lo, hi in slots.runs]
        rows += [(subject, map_name, -1, -1, key, seq, epoch, state, at) for key in slots.keys]
        tx.executemany(
            "INSERT INTO sharding_fences (subject, map_name, lo, hi, shard_key, seq, epoch, state, set_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subject, lo, hi, shard_key) DO UPDATE SET "
            "seq = excluded.seq, epoch = excluded.epoch, state = excluded.state, set_at = excluded.set_at",
            rows,
        )


def state_in(tx: Tx, map_name: str, key: str, slot: int, *, pinned: bool) -> tuple[str, int] | None:
    """Return the newest fence (state, epoch) over `key` (a pinned key's own row, else its slot's) as `tx` sees it."""
    lock = " FOR SHARE" if tx.dialect == "postgresql" else ""
    where = "shard_key = ?" if pinned else "shard_key = '' AND lo <= ? AND hi >= ?"
    params: tuple[object, ...] = (map_name, key) if pinned else (map_name, slot, slot)
    row = tx.one(
        f"SELECT state, epoch FROM sharding_fences WHERE map_name = ? AND {where} ORDER BY seq DESC LIMIT 1{lock}",
        params,
    )
    return None if row is None else (str(row[0]), int(row[1]))


def get(db: Database, map_name: str, key: str, slot: int, *, pinned: bool = False) -> tuple[str, int] | None:
    """Return the newest fence (state, epoch) over `key` in `db` (None: no move touched it here)."""
    where = "shard_key = ?" if pinned else "shard_key = '' AND lo <= ? AND hi >= ?"
    params = (map_name, key) if pinned else (map_name, slot, slot)
    with db.read() as tx:
        row = tx.one(
            f"SELECT state, epoch FROM sharding_fences WHERE map_name = ? AND {where} ORDER BY seq DESC LIMIT 1",
            params,
        )
    return None if row is None else (str(row[0]), int(row[1]))
