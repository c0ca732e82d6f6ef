"""Moving a tenant between locations while it keeps writing: nothing lost or doubled, nobody else paused."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from datastrata.core.errors import ConcurrencyConflict, ValidationError
from datastrata.core.events import NewEvent
from datastrata.runtime import Location, LocationSpec, Runtime, Scope, fences
from datastrata.runtime.moves import COMPLETED, FAILED, REVERSED, SWITCHED, Journal, Mover, plan_move
from datastrata.runtime.movetables import Selection, digest, tenant_tables
from datastrata.testing.servers import create_database
from datastrata.writes.idempotency import MIGRATIONS as IDEMPOTENCY
from tests.tenancy.moving import StoredPlaces, Writer, fill, items_part, mover, open_runtime, start, values

ROWS = 100_000 if os.environ.get("DATASTRATA_FULL") == "1" else 3_000


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """A source and a target store of one engine, both migrated."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'target.db'}"
    template = request.getfixturevalue("pg_template")
    server = request.getfixturevalue("pg_server")
    source = request.getfixturevalue("pg_url")
    return source, create_database(server, f"{source.rsplit('/', 1)[1]}_target", template=template)


@pytest.fixture
def moving(stores: tuple[str, str], tmp_path: Path) -> Iterator[tuple[Runtime, StoredPlaces]]:
    """A runtime with acme (ROWS items) and beta (50 items) in the shared home location."""
    runtime, places = open_runtime(*stores, str(tmp_path))
    fill(runtime.db, "acme", ROWS)
    fill(runtime.db, "beta", 50)
    yield runtime, places
    runtime.close()


def test_a_tenant_moves_while_it_writes_and_another_tenant_is_never_paused(
    moving: tuple[Runtime, StoredPlaces],
) -> None:
    runtime, places = moving
    acme, beta = Writer(runtime, "acme", ROWS), Writer(runtime, "beta", 50)
    threads = [acme.start(), beta.start()]
    beta_during_fence: list[int] = []

    def at_step(step: str) -> None:
        if step == "copy":
            _wait(lambda: len(acme.commits) >= 5)  # writes land while the copy runs
        if step == "delta":  # fenced: beta keeps committing, acme waits
            seen, acme_seen = len(beta.commits), len(acme.commits)
            _wait(lambda: len(beta.commits) >= seen + 5)
            beta_during_fence.append(len(beta.commits) - seen)
            assert len(acme.commits) <= acme_seen + 1  # at most one write that read the fence open was committing

    move = start(runtime, places, "acme", on_step=at_step).run()
    _wait(lambda: len(acme.commits) >= len(acme.latencies) and len(acme.commits) > 20)
    time.sleep(0.05)  # a few writes at the target after the switch
    for w in (acme, beta):
        w.stop.set()
    for t in threads:
        t.join(10)
    assert not acme.errors and not beta.errors, (acme.errors, beta.errors)
    assert move.state == COMPLETED, move.error
    assert beta_during_fence and beta_during_fence[0] >= 5

    target = runtime.location(places.specs["acme-own"]).db
    got = values(target, "acme")
    expected = {i: acme.bumps.get(i, 0) for i in range(ROWS)} | {i: 1 for i in acme.added}
    assert got == expected  # every committed write exactly once: none lost, none doubled
    assert values(runtime.db, "acme") == {}  # completed: the source's copy is gone
    assert values(target, "beta") == {}
    assert sum(values(runtime.db, "beta").values()) == sum(beta.bumps.values()) + len(beta.added)
    assert places.placement("acme").spec == places.specs["acme-own"]
    assert places.placement("acme").epoch == 2
    assert fences.get(runtime.db, "acme") == fences.MOVED  # a stale writer re-reads the directory
    assert fences.get(target, "acme") is None
    pause = max(acme.latencies)
    print(
        f"\nacme write pause: max {pause * 1000:.1f} ms, p50 {statistics.median(acme.latencies) * 1000:.2f} ms; "
        f"beta max {max(beta.latencies) * 1000:.1f} ms; {len(acme.commits)} acme writes during the move"
    )


def test_a_failed_verify_leaves_the_tenant_on_the_source_and_lifts_the_fence(
    moving: tuple[Runtime, StoredPlaces],
) -> None:
    runtime, places = moving
    target = runtime.location(places.specs["acme-own"]).db

    def corrupt(step: str) -> None:
        if step == "fence":  # a row changed at the target behind the move's back
            with target.transaction() as tx:
                tx.execute("UPDATE movetest_items SET note = 'changed' WHERE tenant_id = 'acme' AND item_id = 3")

    move = start(runtime, places, "acme", on_step=corrupt).run()
    assert move.state == FAILED
    assert move.error is not None and "movetest_items" in move.error and "differ" in move.error
    assert places.placement("acme").spec == places.specs["main"] and places.placement("acme").state == "active"
    assert fences.get(runtime.db, "acme") == fences.OPEN
    with runtime.transaction(_scope("acme", 3)) as work:  # writes go on at the source
        work.execute("UPDATE movetest_items SET value = 41 WHERE tenant_id = 'acme' AND item_id = 3")
    assert values(runtime.db, "acme")[3] == 41
    assert len(values(runtime.db, "acme")) == ROWS
    assert Journal(runtime.db).current("tenant", "acme") is None  # a new move may start


def test_a_move_is_reversed_before_and_after_its_switch(moving: tuple[Runtime, StoredPlaces]) -> None:
    runtime, places = moving
    target = runtime.location(places.specs["acme-own"]).db

    def stop_at(name: str) -> Callable[[str], None]:
        def hook(step: str) -> None:
            if step == name:
                raise _Stop(step)

        return hook

    first = start(runtime, places, "acme", on_step=stop_at("fence"))
    with pytest.raises(_Stop):
        first.run()
    with pytest.raises(ConcurrencyConflict, match="already moving"):
        start(runtime, places, "acme")
    reversed_ = first.reverse()
    assert reversed_.state == REVERSED
    assert values(target, "acme") == {} and len(values(runtime.db, "acme")) == ROWS
    assert places.placement("acme").state == "active" and fences.get(runtime.db, "acme") == fences.OPEN

    second = start(runtime, places, "acme", on_step=stop_at("grace"), grace=3600)
    with pytest.raises(_Stop):
        second.run()
    assert second.move.state == SWITCHED
    with runtime.transaction(_scope("acme", 7)) as work:  # written at the target after the switch
        assert work.location.name == "acme-own"
        work.execute("UPDATE movetest_items SET value = 99 WHERE tenant_id = 'acme' AND item_id = 7")
        work.append([NewEvent("ItemBumped", {"item": 7})])
    back = second.reverse()
    assert back.step == "catchup" and back.source["location"] == "acme-own"
    back_move = mover(runtime, places, back).run()
    assert back_move.state == COMPLETED, back_move.error
    assert values(runtime.db, "acme")[7] == 99  # the write made at the target came back
    assert values(target, "acme") == {}
    assert places.placement("acme").spec == places.specs["main"]
    assert Journal(runtime.db).get(second.move.id).state == REVERSED


def test_a_plan_counts_and_a_move_across_engines_is_refused(
    moving: tuple[Runtime, StoredPlaces], tmp_path: Path
) -> None:
    runtime, places = moving
    source = runtime.location(places.specs["main"])
    target = runtime.location(places.specs["acme-own"])
    plan = plan_move(source, target, "acme", items_part(source.db), None)
    assert plan.tables["movetest_items"] == ROWS and plan.rows == ROWS
    assert plan.nbytes > ROWS * 10 and plan.seconds > 0
    assert plan.to_dict()["rows"] == ROWS
    other = "postgresql://nowhere/x" if source.db.dialect == "sqlite" else f"sqlite:///{tmp_path}/x.db"
    if source.db.dialect == "postgresql":
        elsewhere = Location.open(LocationSpec("x", other, "", ""))
        try:
            with pytest.raises(ValidationError, match="cannot cross engines"):
                plan_move(source, elsewhere, "acme", [], None)
            journal = Journal(runtime.db)
            move = journal.create("tenant", "acme", {"model": "shared", "location": "main"}, {"location": "x"})
            with pytest.raises(ValidationError, match="to: a move copies rows as they are stored"):
                Mover(journal, move, source, elsewhere, [], places)
        finally:
            elsewhere.close()


def test_state_tables_are_found_with_their_keys_and_digests_follow_the_rows(db: object) -> None:
    from datastrata.stores.database import Database

    assert isinstance(db, Database)
    db.ensure_schema(
        "movetest.items",
        lambda d: (
            "CREATE TABLE IF NOT EXISTS movetest_items (tenant_id TEXT NOT NULL, "
            "item_id INTEGER NOT NULL, value INTEGER NOT NULL, note TEXT NOT NULL, PRIMARY KEY (tenant_id, item_id));"
        ),
    )
    db.ensure(IDEMPOTENCY)
    parts = {p.table: p for p in tenant_tables(db)}
    assert parts["movetest_items"].key == ("tenant_id", "item_id")
    assert "eventlog_events" not in parts and "jobs" not in parts and "idempotency_keys" in parts
    fill(db, "acme", 10)
    sel = Selection.tenant("acme")
    before = digest(db, parts["movetest_items"], sel)
    assert before.rows == 10
    with db.transaction() as tx:
        tx.execute("UPDATE movetest_items SET value = 1 WHERE item_id = 4")
    assert digest(db, parts["movetest_items"], sel).sha256 != before.sha256
    assert digest(db, parts["movetest_items"], Selection.tenant("nobody")).rows == 0


class _Stop(Exception):
    pass


def _scope(tenant: str, item: int) -> Scope:
    return Scope("items", str(item), tenant=tenant)


def _wait(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)
