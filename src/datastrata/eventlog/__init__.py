"""Append-only event log: per-stream versions, one global order, snapshots and upcasters."""

from datastrata.eventlog.log import ANY, AppendResult, EventLog
from datastrata.eventlog.snapshots import Snapshot, SnapshotStore
from datastrata.eventlog.upcasting import Upcasters

__all__ = ["ANY", "AppendResult", "EventLog", "Snapshot", "SnapshotStore", "Upcasters"]
