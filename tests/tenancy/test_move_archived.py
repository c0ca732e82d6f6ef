"""A tenant with archived streams and archived objects moves like any other: restored, carried, archived again.

The chain shared → dedicated storage → dedicated infrastructure (and a reverse) of a tenant with a cold and a frozen
archived stream and a GLACIER object, while it writes: the move asks for the restores, waits in its ``restore`` step
until the platform clock passes their ETA, copies, archives the streams again at the target (the target's positions,
its object store) and puts the object back in GLACIER there with its stage and ages. Kill -9 during the restore wait
and during the archived-stream step resumes.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from datastrata.catalog import migrate as migrate_all
from datastrata.cli import app as cli
from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.core.errors import RuleViolation
from datastrata.core.events import Event, NewEvent
from datastrata.core.tenancy import tenant as acting_for
from datastrata.runtime import Location, Runtime
from datastrata.runtime.jobs import Job
from datastrata.runtime.movearchive import TenantArchive
from datastrata.runtime.moves import Plan
from datastrata.systems.match.service import MatchService
from datastrata.tenancy.catalogue import catalogue_of
from datastrata.tenancy.move import move_status, reverse_move, start_move
from datastrata.tenancy.secrets import KEY_VARIABLE
from datastrata.tiering.moves import Mover as TieringMover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.policy import parse_policy
from datastrata.tiering.segments import readers_of
from tests.conftest import ApiClient
from tests.tenancy.test_move_chain import TeamWriter, _kill_when

NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
#: Closed ``relic-`` streams leave the online log 7 days after they closed; 90 days after, they are frozen (GLACIER).
POLICY: dict[str, Any] = {
    "name": "relics",
    "datasets": {
        "relics": {
            "kind": "segments",
            "streams": "relic-",
            "ended_by": ["Closed"],
            "rules": [{"after": "7d", "to": "cold", "stage": "ended"}, {"after": "90d", "to": "frozen"}],
        }
    },
}
OLD_KEY = "tenants/acme/vault/old.bin"
HOT_KEY = "tenants/acme/hot.bin"


def _archive(runtime: Runtime, clock: FrozenClock, *, frozen: bool = True) -> dict[str, list[Event]]:
    """Give acme closed streams (relic-a: cold; relic-b: frozen) and beta one, archive them; acme's events by stream."""
    plan = {("acme", "relic-a"): 20, ("beta", "relic-a"): 20}
    if frozen:
        plan[("acme", "relic-b")] = 100
    for (who, stream), days in plan.items():
        clock.set(NOW - timedelta(days=days))
        events = [NewEvent("Opened", {"by": who}), NewEvent("Noted", {"n": 1}), NewEvent("Closed", {})]
        runtime.log.append(stream, events, expected_version=0, tenant=who)
    clock.set(NOW)
    before = {s: runtime.log.read(s, tenant="acme") for who, s in plan if who == "acme"}
    runtime.run_once()  # the followers pass them: only then may a stream leave the online log
    objects = ObjectStore(runtime.home.spec.objects, clock=clock)
    mover = TieringMover(runtime.db, objects, parse_policy(POLICY), clock=clock, readers=lambda: readers_of(runtime))
    mover.run(mover.plan(NOW))
    with acting_for("acme"):
        archived = {s.stream_id: s for s in runtime.log.archived(tenant="acme")}
    assert sorted(archived) == sorted(s for who, s in plan if who == "acme")
    if frozen:
        assert objects.info(archived["relic-b"].location).storage_class == "GLACIER"
    return before


def _objects(runtime: Runtime, clock: FrozenClock) -> ObjectStore:
    """Acme's footage: one object readable, one archived to GLACIER in stage ``archived`` (placed a year ago)."""
    objects = ObjectStore(runtime.home.spec.objects, clock=clock)
    objects.put(HOT_KEY, b"hot footage")
    clock.set(NOW - timedelta(days=365))
    objects.put(OLD_KEY, b"old footage " * 100, storage_class="GLACIER", stage="archived")
    clock.set(NOW)
    return objects


def _location(runtime: Runtime, tenant: str) -> Location:
    spec = runtime.tenants.placement(tenant).spec
    return runtime.location(spec or runtime.home.spec)


def _same(a: list[Event], b: list[Event]) -> bool:
    """The same events (ids, versions, types, payloads, times): positions differ between two logs."""

    def shown(events: list[Event]) -> list[tuple[Any, ...]]:
        return [(e.event_id, e.version, e.type, e.payload, e.occurred_at, e.recorded_at) for e in events]

    return shown(a) == shown(b)


def _wait(condition: Any, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _waiting_for_restores(runtime: Runtime) -> bool:
    moves = move_status(runtime, "acme")
    return bool(moves) and moves[0].step == "restore" and bool(moves[0].cursors.get("restores_left"))


def _check_at(
    runtime: Runtime, events: dict[str, list[Event]], *, frozen: bool = True, restored: bool = False
) -> Location:
    """Acme's archived content answers where it lives now as before the move (`restored`: a move restored it here)."""
    here = _location(runtime, "acme")
    store = ObjectStore(here.spec.objects, clock=runtime.clock)
    with acting_for("acme"):
        segments = {s.stream_id: s for s in here.log.archived(tenant="acme")}
        assert sorted(segments) == sorted(events)
        read = here.log.read("relic-a")
        assert _same(read, events["relic-a"]) and here.log.version("relic-a") == 3
        assert here.log.get(events["relic-a"][1].event_id).event_id == events["relic-a"][1].event_id
        with pytest.raises(RuleViolation, match="closed"):
            here.log.append("relic-a", [NewEvent("Noted", {"n": 2})])  # still closed
        cold = segments["relic-a"]
        assert [e.position for e in read] == list(range(cold.first_position, cold.last_position + 1))
        assert store.exists(cold.location) and store.info(cold.location).storage_class != "GLACIER"
        if frozen:
            assert segments["relic-b"].tier == "frozen" and here.log.version("relic-b") == 3
            assert store.info(segments["relic-b"].location).storage_class == "GLACIER"
            if not restored:
                with pytest.raises(RuleViolation, match="frozen"):  # as at the source before the move: restore it
                    here.log.read("relic-b")
    if frozen:
        old = store.info(OLD_KEY)
        assert (old.storage_class, old.stage) == ("GLACIER", "archived") and (old.restore is None) != restored
        assert old.placed_at == old.created_at == NOW - timedelta(days=365)  # its ages came with it
        assert store.read(HOT_KEY) == b"hot footage"
    return here


class Moving:
    """``start_move`` run to its end in a thread of the test's own (the test moves the clock meanwhile)."""

    def __init__(self, runtime: Runtime, model: str, *, grace: float) -> None:
        self.found: list[Any] = []
        run = lambda: self.found.append(start_move(runtime, "acme", model, grace=grace, foreground=True))  # noqa: E731
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def done(self) -> Job:
        """The move's job, once it ended."""
        self.thread.join(120)
        [job] = self.found
        assert isinstance(job, Job)
        return job


def _destroyed(runtime: Runtime, location: Location) -> bool:
    """Whether a completed move's source is gone (the shared home stays)."""
    return location.name == runtime.home.name or location.name not in [s.name for s in runtime.placement.all()]


def _nothing_left(runtime: Runtime, location: Location) -> None:
    """`location` (a completed move's source) holds no archived stream, segment or object of acme (or is gone)."""
    if location.name == runtime.home.name:
        with acting_for("acme"):
            assert location.log.archived(tenant="acme") == []
    else:
        assert _destroyed(runtime, location)
    store = ObjectStore(location.spec.objects, clock=runtime.clock)
    mine = [o.key for o in store.list() if o.key.startswith(("tiering/", "tenants/")) and "acme" in o.key]
    assert mine == []


def test_a_tenant_with_archived_content_moves_shared_to_bridge_to_silo_and_back(keyed_home: Settings) -> None:
    settings = keyed_home
    clock = FrozenClock(NOW)
    with Runtime.open(settings, clock=clock) as runtime:
        catalogue = catalogue_of(runtime)
        for name in ("acme", "beta"):
            catalogue.add(name, "indie")
        events = _archive(runtime, clock)
        _objects(runtime, clock)
        planned = start_move(runtime, "acme", "dedicated-storage", dry_run=True)
        assert isinstance(planned, Plan)
        archived = planned.to_dict()["archived"]
        assert (archived["streams"], archived["stream_events"]) == (2, 6)
        assert sorted(o["kind"] for o in archived["objects"]) == ["object", "segment"]
        assert archived["restore_eta"] == (NOW + timedelta(hours=5)).isoformat()  # GLACIER, standard tier

        service = MatchService(runtime)
        writer = TeamWriter(service, "acme")
        thread = writer.start()
        sources = []
        for model in ("dedicated-storage", "dedicated-infrastructure"):
            sources.append(_location(runtime, "acme"))
            mover = Moving(runtime, model, grace=0)  # it waits for the restores in its own thread
            _wait(lambda: _waiting_for_restores(runtime))
            [moving] = [m for m in move_status(runtime, "acme") if m.state == "running"]
            assert len(moving.cursors["restores"]) == 2 and moving.cursors["restore_eta"] > clock().isoformat()
            seen = len(writer.written)
            _wait(lambda seen=seen: len(writer.written) > seen + 3)  # the tenant writes while the move waits
            clock.advance(timedelta(hours=6))  # past the ETA on the platform clock
            job = mover.done()
            assert job.state == "succeeded" and move_status(runtime, "acme")[0].state == "completed", job.error
            assert catalogue.get("acme").model == model
            _check_at(runtime, events)
            _nothing_left(runtime, sources[-1])
        # a reverse after the switch: back to the bridge, its archived content archived there again
        sources.append(_location(runtime, "acme"))
        mover = Moving(runtime, "dedicated-storage", grace=3600)
        _wait(lambda: _waiting_for_restores(runtime))
        clock.advance(timedelta(hours=6))
        _wait(lambda: move_status(runtime, "acme")[0].state == "switched")
        back = reverse_move(runtime, "acme", foreground=True, grace=0)
        assert isinstance(back, Job) and back.state == "succeeded", back.error
        assert mover.done().result["state"] == "reversed"  # its grace ended by the reverse
        assert catalogue.get("acme").model == "dedicated-infrastructure"
        _check_at(runtime, events, restored=True)  # the third move restored them here
        writer.stop.set()
        thread.join(10)
        assert not writer.errors, writer.errors
        with acting_for("acme"):
            assert service.reference_ids()["teams"] == set(writer.written)  # no write lost or doubled
        with acting_for("beta"):  # beta's archived stream never moved
            assert [e.type for e in runtime.log.read("relic-a")] == ["Opened", "Noted", "Closed"]
            assert [s.stream_id for s in runtime.log.archived(tenant="beta")] == ["relic-a"]
        assert [m.state for m in move_status(runtime, "acme")] == ["completed", "reversed", "completed", "completed"]


def test_a_move_reversed_while_it_waits_for_restores_leaves_the_tenant_where_it_was(keyed_home: Settings) -> None:
    settings = keyed_home
    clock = FrozenClock(NOW)
    with Runtime.open(settings, clock=clock) as runtime:
        catalogue_of(runtime).add("acme", "indie")
        events = _archive(runtime, clock)
        objects = _objects(runtime, clock)
        mover = Moving(runtime, "dedicated-storage", grace=0)
        _wait(lambda: _waiting_for_restores(runtime))
        reverse_move(runtime, "acme")
        assert mover.done().result["state"] == "reversed"
        assert [m.state for m in move_status(runtime, "acme")] == ["reversed"]
        assert catalogue_of(runtime).get("acme").model == "shared"
        assert _check_at(runtime, events, restored=True).name == runtime.home.name
        assert objects.info(OLD_KEY).restore is not None  # asked for: the owner may use the restored copy


def test_an_object_archived_at_the_source_during_the_move_fails_its_verify(keyed_home: Settings) -> None:
    settings = keyed_home
    clock = FrozenClock(NOW)
    with Runtime.open(settings, clock=clock) as runtime:
        catalogue_of(runtime).add("acme", "indie")
        objects = ObjectStore(runtime.home.spec.objects, clock=clock)
        objects.put(HOT_KEY, b"hot footage")

        def archive_it(step: str) -> None:
            if step == "fence":  # copied already: now the lifecycle archives it at the source
                objects.set_class(HOT_KEY, "GLACIER")

        job = start_move(runtime, "acme", "dedicated-storage", grace=0, foreground=True, on_step=archive_it)
        assert isinstance(job, Job) and job.state == "failed"
        assert "archived at the source during the move" in str(job.error) and HOT_KEY in str(job.error)
        [failed] = move_status(runtime, "acme")
        assert failed.state == "failed" and catalogue_of(runtime).get("acme").model == "shared"
        assert objects.exists(HOT_KEY)  # nothing lost: it stays at the source, archived


def test_archived_content_moves_between_buckets_of_an_s3_store(
    tmp_path: Path, s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, base64.urlsafe_b64encode(os.urandom(32)).decode())
    settings = Settings(store=f"sqlite:///{tmp_path}/home.db", graph=f"ladybug:///{tmp_path}/graph", objects=s3_url)
    migrate_all(settings)
    clock = FrozenClock(NOW)
    with Runtime.open(settings, clock=clock) as runtime:
        catalogue_of(runtime).add("acme", "indie")
        events = _archive(runtime, clock)
        _objects(runtime, clock)
        mover = Moving(runtime, "dedicated-storage", grace=0)
        _wait(lambda: _waiting_for_restores(runtime))  # the S3 server restores at once; the ETA is the clock's
        clock.advance(timedelta(hours=6))
        job = mover.done()
        assert job.state == "succeeded", job.error
        here = _check_at(runtime, events)  # GLACIER again in the bridge's prefix of the bucket
        assert here.spec.objects.startswith(s3_url.split("?")[0] + "/t_acme_") and "endpoint=" in here.spec.objects
        _nothing_left(runtime, runtime.home)


def test_the_plan_shows_archived_content_in_the_cli_and_over_http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api_client: ApiClient
) -> None:
    from datastrata.api.app import create_app

    store = f"sqlite:///{tmp_path}/home.db"
    settings = Settings(store=store, graph=f"ladybug:///{tmp_path}/graph")
    migrate_all(settings)
    with Runtime.open(settings, clock=FrozenClock(NOW)) as runtime:
        catalogue_of(runtime).add("acme", "indie")
        _archive(runtime, runtime.clock, frozen=False)  # type: ignore[arg-type]
        _objects(runtime, runtime.clock)  # type: ignore[arg-type]
    runner = CliRunner()
    args = ["--store", store, "tenants", "move", "acme", "--to", "dedicated-storage"]
    shown = runner.invoke(cli, [*args, "--dry-run", "--json"])
    assert shown.exit_code == 0, shown.output
    archived = json.loads(shown.output)["archived"]
    assert archived["streams"] == 1 and [o["key"] for o in archived["objects"]] == [OLD_KEY]
    text = runner.invoke(cli, [*args, "--dry-run"])
    assert text.exit_code == 0, text.output
    assert "1 archived stream(s) of 3 events" in text.output and "1 archived object(s) to restore first" in text.output
    assert OLD_KEY in text.output and "readable at" in text.output
    with api_client(create_app(settings, worker=False)) as http:
        planned = http.post("/tenants/acme/moves", json={"to": "dedicated-storage", "dry_run": True})
        assert planned.status_code == 200, planned.text
        assert [o["key"] for o in planned.json()["archived"]["objects"]] == [OLD_KEY]
        assert planned.json()["archived"]["restore_tier"] == "standard"


def test_a_redone_close_is_harmless(keyed_home: Settings) -> None:
    settings = keyed_home
    clock = FrozenClock(NOW)
    with Runtime.open(settings, clock=clock) as runtime:
        catalogue_of(runtime).add("acme", "indie")
        events = _archive(runtime, clock, frozen=False)
        job = start_move(runtime, "acme", "dedicated-storage", grace=3600)
        _wait(lambda: move_status(runtime, "acme")[0].state == "switched")
        source, target = runtime.location(runtime.home.spec), _location(runtime, "acme")
        with acting_for("acme"):
            assert TenantArchive().close(source, target, "acme") == 0  # closed there already: nothing again
            assert TenantArchive().digest(source, "acme") == TenantArchive().digest(target, "acme")
        reverse_move(runtime, "acme", foreground=True, grace=0)
        assert isinstance(job, Job)
        _check_at(runtime, events, frozen=False)


# ---- kill -9 -----------------------------------------------------------------------------------------------------


def test_a_move_killed_while_it_waits_for_restores_resumes_without_asking_again(keyed_home: Settings) -> None:
    settings = keyed_home
    clock = FrozenClock(datetime.now(UTC))
    with Runtime.open(settings, clock=clock) as runtime:
        catalogue_of(runtime).add("acme", "indie")
        ObjectStore(runtime.home.spec.objects, clock=clock).put(OLD_KEY, b"old footage", storage_class="GLACIER")
    _kill_when(
        settings.store, settings.graph, "dedicated-storage", "step restore", 1.0
    )  # the child waits on the system clock: hours
    clock = FrozenClock(datetime.now(UTC) + timedelta(hours=6))
    with Runtime.open(settings, clock=clock) as runtime:
        [killed] = move_status(runtime, "acme")
        assert (killed.state, killed.step, killed.cursors["restores_left"]) == ("running", "restore", 1)
        asked = killed.cursors["restores"]
        requested = ObjectStore(runtime.home.spec.objects, clock=clock).info(OLD_KEY).restore
        assert requested is not None and requested.ready_at.isoformat() == asked[0]["ready_at"]
        job = start_move(runtime, "acme", "dedicated-storage", grace=0, foreground=True)
        assert isinstance(job, Job)
        assert job.state == "succeeded", job.error
        [done] = move_status(runtime, "acme")
        assert done.id == killed.id and done.cursors["restores"] == asked  # the same request, not asked again
        there = ObjectStore(_location(runtime, "acme").spec.objects, clock=clock)
        assert there.info(OLD_KEY).storage_class == "GLACIER" and there.checksum(OLD_KEY) is not None


def test_a_move_killed_in_its_archived_stream_step_resumes(keyed_home: Settings) -> None:
    settings = keyed_home
    clock = FrozenClock(NOW)
    with Runtime.open(settings, clock=clock) as runtime:
        catalogue_of(runtime).add("acme", "indie")
        events = _archive(runtime, clock, frozen=False)
    _kill_when(
        settings.store, settings.graph, "dedicated-storage", "step closed", 0.0
    )  # re-appended at the target, not archived again
    with Runtime.open(settings, clock=FrozenClock(datetime.now(UTC))) as runtime:
        [killed] = move_status(runtime, "acme")
        assert (killed.state, killed.step) == ("running", "closed")
        target = runtime.location(_end(runtime, killed.target))
        with acting_for("acme"):
            assert target.log.archived(tenant="acme") == [] and target.log.version("relic-a") == 3  # online there
        job = start_move(runtime, "acme", "dedicated-storage", grace=0, foreground=True)
        assert isinstance(job, Job)
        assert job.state == "succeeded", job.error
        here = _check_at(runtime, events, frozen=False)
        assert here.name == target.name
        _nothing_left(runtime, runtime.home)


def _end(runtime: Runtime, end: dict[str, Any]) -> Any:
    from datastrata.tenancy.move import _spec_of

    return _spec_of("acme", end)
