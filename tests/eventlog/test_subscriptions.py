"""Subscriptions and the asyncio API, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time

from datastrata.core.events import NewEvent
from datastrata.eventlog import AsyncEventLog, EventLog, LogFeed
from datastrata.stores.database import Database


def test_catch_up_then_follow_live(db: Database) -> None:
    log = EventLog(db)
    for i in range(5):
        log.append(f"s-{i % 2}", [NewEvent(type="E", payload={"n": i})])
    with LogFeed(log, after=0, max_wait=0.5) as sub:
        assert [e.payload["n"] for e in sub.poll()] == [0, 1, 2, 3, 4]

        def later() -> None:
            time.sleep(0.2)
            log.append("s-9", [NewEvent(type="E", payload={"n": 5}), NewEvent(type="E", payload={"n": 6})])

        writer = threading.Thread(target=later)
        writer.start()
        got = sub.poll(timeout=20)  # returns as soon as the commit wakes it; [] only after 20 s of nothing
        writer.join()
        assert [e.payload["n"] for e in got] == [5, 6]


def test_resume_from_the_last_handled_position(db: Database) -> None:
    log = EventLog(db)
    for i in range(6):
        log.append("s", [NewEvent(type="E", payload={"n": i})])
    handled = []
    with LogFeed(log, batch_size=2) as sub:
        for event in sub:
            handled.append(event)
            if len(handled) == 3:
                break  # the consumer "crashes" after handling three events
    with LogFeed(log, after=handled[-1].position) as resumed:
        rest = resumed.poll()
    assert [e.payload["n"] for e in handled + rest] == list(range(6))


def test_an_idle_subscription_does_not_spin(db: Database) -> None:
    log = EventLog(db)
    with LogFeed(log, max_wait=0.5) as sub:
        sub.poll()
        cpu = time.process_time()
        assert sub.poll(timeout=1.0) == []
        assert time.process_time() - cpu < 0.3


def test_a_write_from_another_process_wakes_the_subscriber(store_url: str, db: Database) -> None:
    log = EventLog(db)
    log.append("warm", [NewEvent(type="E")])
    code = (
        "import time, sys; from datastrata.stores.open import open_database; "
        "from datastrata.eventlog import EventLog; from datastrata.core.events import NewEvent; "
        "time.sleep(0.5); EventLog(open_database(sys.argv[1])).append('other', [NewEvent(type='FromAfar')])"
    )
    with LogFeed(log, max_wait=0.5) as sub:
        sub.poll()
        child = subprocess.Popen([sys.executable, "-c", code, store_url], env=dict(os.environ))
        got = sub.poll(timeout=20)
        child.wait(timeout=20)
    assert [e.type for e in got] == ["FromAfar"]


def test_async_append_read_and_subscribe(db: Database) -> None:
    alog = AsyncEventLog(EventLog(db))

    async def scenario() -> list[int]:
        await alog.append("a", [NewEvent(type="E", payload={"n": 1})], expected_version=0)
        assert [e.version for e in await alog.read("a")] == [1]
        seen: list[int] = []

        async def writer() -> None:
            await asyncio.sleep(0.1)
            await alog.append("a", [NewEvent(type="E", payload={"n": 2})], expected_version=1)

        task = asyncio.create_task(writer())
        async for event in alog.subscribe(after=0, max_wait=0.5):
            seen.append(int(event.payload["n"]))
            if len(seen) == 2:
                break
        await task
        assert (await alog.read_page()).events[-1].payload == {"n": 2}
        assert await alog.head() > 0
        return seen

    assert asyncio.run(scenario()) == [1, 2]
