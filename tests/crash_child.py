"""Child process for the SIGKILL tests: appends, projects or relays until it is killed."""

from __future__ import annotations

import sys
import time

from datastrata.core.events import Event, NewEvent
from datastrata.eventlog import EventLog
from datastrata.messaging import DeadLetters, OutboxRelay
from datastrata.messaging.bus import RedisStreamsBus
from datastrata.projections import ProjectionRunner
from datastrata.stores.database import Database, Dialect, Tx
from datastrata.stores.open import open_database


class SlowTally:
    """Counts events per stream, remembering applied ids; slow, so a kill lands mid-batch."""

    name = "crash.tally"
    event_types: frozenset[str] | None = None

    def setup(self, db: Database) -> None:
        def ddl(dialect: Dialect) -> str:
            return (
                "CREATE TABLE IF NOT EXISTS crash_tally (stream_id TEXT PRIMARY KEY, n INTEGER NOT NULL);"
                "CREATE TABLE IF NOT EXISTS crash_applied (event_id TEXT PRIMARY KEY);"
            )

        db.ensure_schema(self.name, ddl)

    def apply(self, tx: Tx, event: Event) -> None:
        time.sleep(0.002)
        tx.execute("INSERT INTO crash_applied (event_id) VALUES (?)", (event.event_id,))
        tx.execute(
            "INSERT INTO crash_tally (stream_id, n) VALUES (?, 1) "
            "ON CONFLICT (stream_id) DO UPDATE SET n = crash_tally.n + 1",
            (event.stream_id,),
        )

    def clear(self, tx: Tx) -> None:
        tx.execute("DELETE FROM crash_tally")
        tx.execute("DELETE FROM crash_applied")


def append_batches(log: EventLog, start: int, stop: int) -> None:
    """Append batches of three events with deterministic ids, acknowledging each on stdout."""
    for i in range(start, stop):
        events = [NewEvent(type="Crashy", payload={"i": i}, event_id=f"{i}-{part}") for part in "abc"]
        log.append(f"c-{i % 5}", events)
        print(i, flush=True)


def main() -> None:
    mode, url = sys.argv[1], sys.argv[2]
    db = open_database(url)
    log = EventLog(db)
    if mode == "append":
        append_batches(log, int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "project":
        runner = ProjectionRunner(log, SlowTally(), batch_size=40)
        print("ready", flush=True)
        runner.catch_up()
    elif mode == "move":
        move_until_killed(url, sys.argv[3], sys.argv[4])
    elif mode == "catalogue-move":
        move_through_the_catalogue(url, sys.argv[3], sys.argv[4])
    elif mode == "relay":
        bus = SlowRedisBus(sys.argv[3], DeadLetters(db), log_id=log.identity)
        relay = OutboxRelay(log, bus, batch_size=25)
        print("ready", flush=True)
        relay.drain()


def move_until_killed(source_url: str, target_url: str, folder: str) -> None:
    """Run (or resume) the move of tenant acme, printing each step and copy batch, slowly, until killed."""
    from datastrata.runtime.moves import Journal
    from tests.tenancy.moving import mover, open_runtime, start

    runtime, places = open_runtime(source_url, target_url, folder)

    def step(name: str) -> None:
        print(f"step {name}", flush=True)
        time.sleep(0.05)

    def batch(done: int, goal: int) -> None:
        print(f"batch {done}", flush=True)
        time.sleep(0.05)

    current = Journal(runtime.db).current("tenant", "acme")
    options = {"on_step": step, "on_batch": batch}
    running = mover(runtime, places, current, **options) if current else start(runtime, places, "acme", **options)
    running.run()
    print("done", flush=True)


def move_through_the_catalogue(url: str, graph: str, model: str) -> None:
    """Run (or resume) `tenants move acme --to MODEL` on the store at `url`, printing each step, until killed."""
    from datastrata.core.config import Settings
    from datastrata.runtime import Runtime
    from datastrata.tenancy.move import start_move

    def step(name: str) -> None:
        print(f"step {name}", flush=True)
        time.sleep(0.05)

    with Runtime.open(Settings(store=url, graph=graph)) as runtime:
        start_move(runtime, "acme", model, grace=0, foreground=True, on_step=step)
    print("done", flush=True)


class SlowRedisBus(RedisStreamsBus):
    """Publishes one event at a time with a pause, so a kill lands between publish and checkpoint."""

    def publish(self, events: list[Event]) -> int:  # type: ignore[override]
        added = 0
        for event in events:
            added += super().publish([event])
            time.sleep(0.002)
        return added


if __name__ == "__main__":
    main()
