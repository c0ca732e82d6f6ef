"""The asyncio face of the event log: the same implementation, run off the event loop in worker threads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime

from datastrata.core.events import Event, NewEvent
from datastrata.core.tenancy import current_tenant
from datastrata.eventlog.log import ANY, AppendResult, EventLog, Page
from datastrata.eventlog.subscriptions import LogFeed


class AsyncEventLog:
    """Awaitable append, read and subscribe over an :class:`EventLog` (no second copy of the logic)."""

    def __init__(self, log: EventLog) -> None:
        self.log = log

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        *,
        expected_version: int | None = ANY,
        tenant: str | None = None,
    ) -> AppendResult:
        """Append events to a stream (see :meth:`EventLog.append`; the tenant is taken here, not in the thread)."""
        owner = current_tenant() if tenant is None else tenant
        return await asyncio.to_thread(
            self.log.append, stream_id, events, expected_version=expected_version, tenant=owner
        )

    async def read(
        self,
        stream_id: str,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        tenant: str | None = None,
    ) -> list[Event]:
        """Read one stream (see :meth:`EventLog.read`)."""
        owner = current_tenant() if tenant is None else tenant
        return await asyncio.to_thread(
            self.log.read,
            stream_id,
            from_version=from_version,
            to_version=to_version,
            until=until,
            limit=limit,
            tenant=owner,
        )

    async def read_page(self, *, after: int = 0, limit: int = 1000, types: Collection[str] | None = None) -> Page:
        """Read a page of the global log (see :meth:`EventLog.read_page`)."""
        return await asyncio.to_thread(self.log.read_page, after=after, limit=limit, types=types)

    async def head(self) -> int:
        """Return the highest position a follower can read now."""
        return await asyncio.to_thread(self.log.head)

    async def subscribe(
        self, *, after: int = 0, types: Collection[str] | None = None, max_wait: float = 1.0
    ) -> AsyncIterator[Event]:
        """Yield events after `after`, then new ones as they commit; stop by breaking out of the loop."""
        subscription = LogFeed(self.log, after=after, types=types, max_wait=max_wait)
        try:
            while True:
                for event in await asyncio.to_thread(subscription.poll, max_wait):
                    yield event
        finally:
            await asyncio.to_thread(subscription.close)
