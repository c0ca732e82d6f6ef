"""Relay, buses and delivery: at-least-once publishing, deduplicated consumers, retries and dead letters."""

from __future__ import annotations

from datastrata.core.events import Event, NewEvent
from datastrata.eventlog import EventLog
from datastrata.messaging import DeadLetters, Inbox, OutboxRelay
from datastrata.messaging.bus import InProcessBus, RedisStreamsBus
from datastrata.stores.database import Database
from datastrata.stores.open import open_database


def append_many(log: EventLog, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        log.append(f"s-{i % 4}", [NewEvent(type="Thing", payload={"n": i})])


def test_in_process_relay_delivers_in_order_and_retries_then_dead_letters(db: Database) -> None:
    log = EventLog(db)
    dead = DeadLetters(db)
    bus = InProcessBus(dead)
    got: list[int] = []
    flaky_calls: dict[int, int] = {}

    def flaky(event: Event) -> None:
        n = int(event.payload["n"])
        flaky_calls[n] = flaky_calls.get(n, 0) + 1
        if n == 3 and flaky_calls[n] < 2:
            raise RuntimeError("passing failure")
        if n == 5:
            raise RuntimeError("poison message")

    bus.subscribe("collector", lambda e: got.append(int(e.payload["n"])))
    bus.subscribe("flaky", flaky, attempts=3)
    append_many(log, 8)
    relay = OutboxRelay(log, bus)
    assert relay.drain() == 16  # 8 events handed to each of the 2 consumers
    assert got == list(range(8))
    assert flaky_calls[3] == 2 and flaky_calls[5] == 3
    letters = dead.list("flaky")
    assert [(d.event_type, d.attempts) for d in letters] == [("Thing", 3)]
    assert "poison message" in letters[0].error
    assert relay.position() >= log.head() and relay.run_once() == 0


def test_inbox_makes_a_consumer_idempotent(db: Database) -> None:
    inbox = Inbox(db)
    with db.transaction() as tx:
        assert inbox.first_time(tx, "c", "e-1")
        assert not inbox.first_time(tx, "c", "e-1")
        assert inbox.first_time(tx, "other", "e-1")


def test_redis_consumer_sees_every_event_once_after_the_relay_restarts(store_url: str, redis_url: str) -> None:
    db = open_database(store_url)
    log = EventLog(db)
    dead = DeadLetters(db)
    append_many(log, 10)

    # First relay publishes, then "crashes" before moving its checkpoint.
    bus = RedisStreamsBus(redis_url, dead, log_id=log.identity)
    first = log.read_all()
    assert bus.publish(first[:6]) == 6
    bus.close()

    append_many(log, 5, start=10)
    restarted = OutboxRelay(log, RedisStreamsBus(redis_url, dead, log_id=log.identity))
    assert restarted.position() == 0  # it never checkpointed, so it republishes from the start
    restarted.drain()
    assert restarted.position() >= log.head()

    consumer_bus = RedisStreamsBus(redis_url, dead, log_id=log.identity, consumer_name="reader-1")
    got: list[int] = []
    consumer_bus.subscribe("reporting", lambda e: got.append(int(e.payload["n"])))
    while consumer_bus.poll():
        pass
    assert got == list(range(15))
    consumer_bus.close()
    restarted.bus.close()
    db.close()


def test_redis_consumer_resumes_unacknowledged_messages_after_a_crash(sqlite_url: str, redis_url: str) -> None:
    db = open_database(sqlite_url)
    log = EventLog(db)
    dead = DeadLetters(db)
    append_many(log, 4)
    OutboxRelay(log, RedisStreamsBus(redis_url, dead, log_id=log.identity)).drain()
    import redis

    client = redis.Redis.from_url(redis_url)
    key = f"datastrata:events:{log.identity}"
    client.xgroup_create(key, "billing", id="0")
    # A consumer read two messages and died before acknowledging them; it comes back under its configured name.
    client.xreadgroup("billing", "c1", {key: ">"}, count=2)
    bus = RedisStreamsBus(redis_url, dead, log_id=log.identity, consumer_name="c1")
    got: list[int] = []
    bus.subscribe("billing", lambda e: got.append(int(e.payload["n"])))
    while bus.poll():
        pass
    assert got == [0, 1, 2, 3]
    assert client.xpending(key, "billing")["pending"] == 0
    client.close()
    bus.close()
    db.close()
