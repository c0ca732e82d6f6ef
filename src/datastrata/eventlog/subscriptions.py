"""Log feeds: catch up from a position, then follow new events live, in order, without busy-waiting.

PostgreSQL wakes followers with LISTEN/NOTIFY (a statement trigger notifies on every append); SQLite wakes them
when a commit in this process signals the database, or when ``PRAGMA data_version`` shows another process wrote,
checked with a growing sleep. Resuming after a crash is starting again from the last position handled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterator
from typing import Any, Protocol

from datastrata.core.errors import BackendUnavailable
from datastrata.core.events import Event
from datastrata.eventlog.log import EventLog
from datastrata.stores.database import NOTIFY_CHANNEL, Database


class Waiter(Protocol):
    """Blocks until the log may have grown, or a timeout passes."""

    def wait(self, timeout: float) -> None:
        """Return when new events may be there, or after `timeout` seconds."""

    def close(self) -> None:
        """Release what the waiter holds."""


class PostgresWaiter:
    """A dedicated connection LISTENing on the event log's channel."""

    def __init__(self, url: str) -> None:
        import psycopg

        try:
            self.conn: Any = psycopg.connect(url, autocommit=True)
            self.conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except psycopg.OperationalError as exc:
            raise BackendUnavailable(f"cannot listen for new events on PostgreSQL: {exc}") from exc

    def wait(self, timeout: float) -> None:
        """Return on the first notification (queued ones count) or after `timeout`."""
        for _ in self.conn.notifies(timeout=timeout, stop_after=1):
            break

    def close(self) -> None:
        """Close the listening connection."""
        self.conn.close()


class SqliteWaiter:
    """Wakes on in-process commits at once, and on other processes' commits via ``PRAGMA data_version``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.seen = db.change_count
        self.version = self._data_version()

    def _data_version(self) -> int:
        with self.db.session() as s:
            return int(s.scalar("PRAGMA data_version"))

    def wait(self, timeout: float) -> None:
        """Sleep in growing steps (5 ms to 200 ms) until a commit is seen or `timeout` passes."""
        deadline = time.monotonic() + timeout
        step = 0.005
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            count = self.db.wait_for_change(self.seen, min(step, remaining))
            version = self._data_version()
            if count != self.seen or version != self.version:
                self.seen, self.version = count, version
                return
            step = min(step * 2, 0.2)

    def close(self) -> None:
        """Nothing to release."""


def waiter_for(db: Database) -> Waiter:
    """Return the waiter suited to `db`'s engine."""
    if db.dialect == "postgresql":
        from datastrata.stores.postgres import PostgresDatabase

        return PostgresWaiter(db.listen_url() if isinstance(db, PostgresDatabase) else db.url)
    return SqliteWaiter(db)


class LogFeed:
    """Events after a position, in global order: first those stored, then each new one as it commits."""

    def __init__(
        self,
        log: EventLog,
        *,
        after: int = 0,
        types: Collection[str] | None = None,
        batch_size: int = 500,
        max_wait: float = 1.0,
    ) -> None:
        self.log = log
        self.position = after
        self.types = types
        self.batch_size = batch_size
        self.max_wait = max_wait
        self._stopped = threading.Event()
        self._waiter = waiter_for(log.db)

    def poll(self, timeout: float = 0.0) -> list[Event]:
        """Return the next events (waiting up to `timeout` seconds for some); advance past them."""
        deadline = time.monotonic() + timeout
        while True:
            page = self.log.read_page(after=self.position, limit=self.batch_size, types=self.types)
            self.position = page.next_after
            if page.events or self._stopped.is_set():
                return page.events
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._waiter.wait(min(remaining, self.max_wait))

    def __iter__(self) -> Iterator[Event]:
        """Yield events forever (until :meth:`stop`), blocking while there are none."""
        while not self._stopped.is_set():
            yield from self.poll(self.max_wait)

    def stop(self) -> None:
        """End the iteration at the next wake-up."""
        self._stopped.set()

    def close(self) -> None:
        """Stop and release the waiter."""
        self.stop()
        self._waiter.close()

    def __enter__(self) -> LogFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
