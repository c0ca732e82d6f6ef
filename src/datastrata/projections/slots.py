"""A/B read models: each SQL read model's tables exist twice (slot ``a``, slot ``b``); a pointer row says which is live.

Slot ``a`` keeps the tables' original names (stores made before slots keep their data); slot ``b`` is the same
tables suffixed ``_b``, made by the read model's migration 2 (:func:`slot_b`). ``readmodel_slots`` holds one row per
read model: the live slot, and the slot a rebuild is building (None when none is). Queries and the live follower
resolve the table names once per transaction with :func:`tables_in`; a rebuild writes into the other slot with
its own checkpoint and switches the pointer and the live checkpoint in one short transaction
(:mod:`datastrata.projections.rebuild`). No DDL runs at rebuild time: the application role has no DDL rights.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from datastrata.core.clock import Clock, system_clock
from datastrata.stores.database import Dialect, Tx, time_to_db

A, B = "a", "b"
#: How a rebuild's own checkpoint is named in ``projection_checkpoints``: ``<read model>@rebuild``.
REBUILD_SUFFIX = "@rebuild"


def other(slot: str) -> str:
    """Return the slot that is not `slot`."""
    return B if slot == A else A


def table_name(base: str, slot: str) -> str:
    """Return the name of table `base` in `slot` (slot ``a`` keeps the original name)."""
    return base if slot == A else f"{base}_b"


def slot_b(ddl: Callable[[Dialect], str], tables: tuple[str, ...]) -> Callable[[Dialect], str]:
    """Return a DDL function making slot ``b`` of `tables` (and their indexes) from the baseline DDL `ddl`."""

    def render(dialect: Dialect) -> str:
        text = ddl(dialect)
        for base in sorted(tables, key=len, reverse=True):
            text = re.sub(rf"\b{re.escape(base)}", f"{base}_b", text)
        return text

    return render


@dataclass(frozen=True, slots=True)
class Tables:
    """The table names of one slot of a read model: ``t["match_tv_events"]`` is that slot's table."""

    slot: str

    def __getitem__(self, base: str) -> str:
        return table_name(base, self.slot)


@dataclass(frozen=True, slots=True)
class SlotState:
    """A read model's pointer row: the live slot and the slot a rebuild is building (None: none)."""

    active: str = A
    building: str | None = None
    switches: int = 0


def state_in(tx: Tx, name: str, *, for_update: bool = False) -> SlotState:
    """Return the pointer row of read model `name` inside `tx` (slot ``a`` live when it has none yet)."""
    lock = " FOR UPDATE" if for_update and tx.dialect == "postgresql" else ""
    row = tx.one(f"SELECT active, building, switches FROM readmodel_slots WHERE name = ?{lock}", (name,))
    if row is None:
        return SlotState()
    return SlotState(str(row[0]), str(row[1]) if row[1] else None, int(row[2] or 0))


def tables_in(tx: Tx, name: str) -> Tables:
    """Return the live slot's table names of read model `name` (one pointer read; call once per transaction)."""
    return Tables(state_in(tx, name).active)


def mark_building_in(tx: Tx, name: str, slot: str | None) -> None:
    """Record inside `tx` that a rebuild is building `slot` of read model `name` (None: no rebuild under way)."""
    tx.execute(
        "INSERT INTO readmodel_slots (name, active, building) VALUES (?, 'a', ?) "
        "ON CONFLICT (name) DO UPDATE SET building = excluded.building",
        (name, slot),
    )


def switch_in(tx: Tx, name: str, slot: str, *, clock: Clock = system_clock) -> None:
    """Make `slot` the live slot of read model `name` inside `tx`, ending the rebuild that built it."""
    tx.execute(
        "INSERT INTO readmodel_slots (name, active, building, switches, switched_at) VALUES (?, ?, NULL, 1, ?) "
        "ON CONFLICT (name) DO UPDATE SET active = excluded.active, building = NULL, "
        "switches = readmodel_slots.switches + 1, switched_at = excluded.switched_at",
        (name, slot, time_to_db(tx.dialect, clock())),
    )
