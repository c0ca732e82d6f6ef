"""Append-only event log: per-stream versions, one global order, snapshots, upcasters, subscriptions."""

from datastrata.eventlog.aio import AsyncEventLog
from datastrata.eventlog.log import ANY, AppendResult, EventLog, Page
from datastrata.eventlog.snapshots import Snapshot, SnapshotStore
from datastrata.eventlog.subscriptions import LogFeed
from datastrata.eventlog.upcasting import Upcasters

__all__ = [
    "ANY",
    "AppendResult",
    "AsyncEventLog",
    "EventLog",
    "LogFeed",
    "Page",
    "Snapshot",
    "SnapshotStore",
    "Upcasters",
]
