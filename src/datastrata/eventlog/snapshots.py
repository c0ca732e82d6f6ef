"""Snapshots: a stream's folded state at a version, so long streams replay only their tail."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from datastrata.core import codec
from datastrata.core.clock import Clock, system_clock
from datastrata.core.events import Event
from datastrata.core.tenancy import check_tenant_id, current_tenant
from datastrata.eventlog.schema import MIGRATIONS
from datastrata.stores.database import Database, Tx, time_to_db


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A stream's state as of `version`."""

    stream_id: str
    name: str
    version: int
    state: dict[str, Any]


class SnapshotStore:
    """Keeps the latest snapshot of each (tenant, stream, name); `tenant` defaults to the context's."""

    def __init__(self, db: Database, *, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock
        db.ensure(MIGRATIONS)

    def save(
        self,
        stream_id: str,
        version: int,
        state: Mapping[str, Any],
        *,
        name: str = "default",
        tenant: str | None = None,
    ) -> None:
        """Store `state` as the snapshot of the tenant's `stream_id` at `version`, unless a newer one exists."""
        with self.db.transaction() as tx:
            self.save_in(tx, stream_id, version, state, name=name, tenant=tenant)

    def save_in(
        self,
        tx: Tx,
        stream_id: str,
        version: int,
        state: Mapping[str, Any],
        *,
        name: str = "default",
        tenant: str | None = None,
    ) -> None:
        """Store a snapshot inside the caller's transaction."""
        cast = "?::jsonb" if tx.dialect == "postgresql" else "?"
        owner = current_tenant() if tenant is None else check_tenant_id(tenant)
        tx.execute(
            "INSERT INTO eventlog_snapshots (tenant_id, stream_id, name, version, state, recorded_at) "
            f"VALUES (?, ?, ?, ?, {cast}, ?) ON CONFLICT (tenant_id, stream_id, name) DO UPDATE SET "
            "version = excluded.version, state = excluded.state, recorded_at = excluded.recorded_at "
            "WHERE excluded.version > eventlog_snapshots.version",
            (owner, stream_id, name, version, codec.encode(state), time_to_db(tx.dialect, self.clock())),
        )

    def load(
        self, stream_id: str, *, name: str = "default", max_version: int | None = None, tenant: str | None = None
    ) -> Snapshot | None:
        """Return the snapshot of the tenant's `stream_id`, or None (also when it is newer than `max_version`)."""
        with self.db.session() as tx:
            return self.load_in(tx, stream_id, name=name, max_version=max_version, tenant=tenant)

    def load_in(
        self,
        tx: Tx,
        stream_id: str,
        *,
        name: str = "default",
        max_version: int | None = None,
        tenant: str | None = None,
    ) -> Snapshot | None:
        """Return the snapshot of the tenant's `stream_id` as seen inside `tx` (see :meth:`load`)."""
        owner = current_tenant() if tenant is None else check_tenant_id(tenant)
        row = tx.one(
            "SELECT version, state FROM eventlog_snapshots WHERE tenant_id = ? AND stream_id = ? AND name = ?",
            (owner, stream_id, name),
        )
        if row is None or (max_version is not None and int(row[0]) > max_version):
            return None
        return Snapshot(stream_id, name, int(row[0]), codec.decode(row[1]))


#: Folds a whole stream (its id, its events in version order) into the state its aggregate loads as a snapshot.
Fold = Callable[[str, Sequence[Event]], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Snapshotter:
    """How to snapshot the streams of one aggregate: its fold, and the snapshot name the aggregate loads."""

    name: str
    fold: Fold
    snapshot_name: str = "default"


#: The registered snapshotters by name (a tiering policy's ``snapshot:`` names one).
SNAPSHOTTERS: dict[str, Snapshotter] = {}


def register_snapshotter(name: str, fold: Fold, *, snapshot_name: str = "default") -> Snapshotter:
    """Register how to snapshot an aggregate's streams before they leave the online log (tiering)."""
    found = SNAPSHOTTERS[name] = Snapshotter(name, fold, snapshot_name)
    return found
