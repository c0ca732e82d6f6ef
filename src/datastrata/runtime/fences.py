"""Write fences: a moving tenant's writers read its fence row in their own transaction; nobody else pauses.

A move writes the row ``open`` in the source location when it starts, turns it ``fenced`` for the last delta
(the UPDATE waits for every writer that read it ``open`` to commit: PostgreSQL ``FOR SHARE``, SQLite's single
writer lock), and leaves it ``moved`` after the switch, so a process whose cached placement is stale re-reads the
directory instead of writing where the tenant no longer lives. A failed verify lifts the fence (back to ``open``).
"""

from __future__ import annotations

from datastrata.core.clock import Clock, system_clock
from datastrata.stores.database import Database, Tx, time_to_db

OPEN, FENCED, MOVED = "open", "fenced", "moved"
#: How often a writer held by a fence looks again, in seconds.
POLL = 0.01


def state_in(tx: Tx, tenant: str) -> str | None:
    """Return `tenant`'s fence here as a writer's transaction sees it (None: no move ever touched it here).

    On PostgreSQL the row is read ``FOR SHARE``: a move cannot fence the tenant until this transaction ends.
    """
    lock = " FOR SHARE" if tx.dialect == "postgresql" else ""
    found = tx.scalar(f"SELECT state FROM tenancy_fences WHERE tenant_id = ?{lock}", (tenant,))
    return None if found is None else str(found)


def set_in(tx: Tx, tenant: str, state: str, epoch: int, *, clock: Clock = system_clock) -> None:
    """Write `tenant`'s fence as `state` at `epoch` inside `tx` (inserted when absent)."""
    tx.execute(
        "INSERT INTO tenancy_fences (tenant_id, epoch, state, set_at) VALUES (?, ?, ?, ?) ON CONFLICT (tenant_id) "
        "DO UPDATE SET epoch = excluded.epoch, state = excluded.state, set_at = excluded.set_at",
        (tenant, epoch, state, time_to_db(tx.dialect, clock())),
    )


def put(db: Database, tenant: str, state: str, epoch: int, *, clock: Clock = system_clock) -> None:
    """Write `tenant`'s fence in `db` as `state`, in a transaction of its own (it waits for open writers)."""
    with db.transaction() as tx:
        set_in(tx, tenant, state, epoch, clock=clock)


def clear_in(tx: Tx, tenant: str) -> None:
    """Remove `tenant`'s fence here (the tenant lives here now: nothing holds its writers)."""
    tx.execute("DELETE FROM tenancy_fences WHERE tenant_id = ?", (tenant,))


def get(db: Database, tenant: str) -> str | None:
    """Return `tenant`'s fence state in `db` (None: none)."""
    with db.read() as tx:
        found = tx.scalar("SELECT state FROM tenancy_fences WHERE tenant_id = ?", (tenant,))
    return None if found is None else str(found)
