"""Moving a tenant to another isolation model: plan it, run it as a resumable job, see its status, reverse it.

The work is the runtime's one move workflow (:mod:`datastrata.runtime.moves`); this module says what a tenant
move carries (every state table with ``tenant_id`` in its location), where it goes (the target model's
provisioner) and who places it (the tenant directory, which must be able to switch a tenant's placement).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any, Protocol, runtime_checkable

from datastrata.core.errors import NotFound, RuleViolation, ValidationError
from datastrata.core.redact import redact_url
from datastrata.core.tenancy import tenant as bound_to
from datastrata.runtime.jobs import Job, jobs_of
from datastrata.runtime.location import Location, LocationSpec
from datastrata.runtime.movearchive import TenantArchive
from datastrata.runtime.movecold import TenantColdRows
from datastrata.runtime.moveevents import TenantEvents
from datastrata.runtime.moveobjects import TenantObjects
from datastrata.runtime.moves import COMPLETED, FAILED, Journal, Move, Mover, MoveStopped, Placer, Plan, plan_move
from datastrata.runtime.movetables import tenant_tables
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.tenants import MODELS, StoredDirectory
from datastrata.tenancy.catalogue import Catalogue, catalogue_of
from datastrata.tenancy.models import provisioner
from datastrata.tenancy.secrets import open_sealed, seal

log = logging.getLogger(__name__)

#: Seconds between a move's switch and deleting the source's copy (a stale process has long re-read by then).
GRACE = 60.0
#: The job kind of a move (``GET /jobs``, ``datastrata jobs list``).
JOB_KIND = "tenant-move"
#: The audit actor of a move's changes of the catalogue.
MOVE_ACTOR = "move"


@runtime_checkable
class PlacingDirectory(Placer, Protocol):
    """A tenant directory that can also switch where a tenant lives (what a move needs of the catalogue)."""


@dataclass
class CataloguePlacer:
    """The tenant catalogue as a move's placer: ``moving`` is the tenant's state; the switch re-places it."""

    catalogue: Catalogue
    #: Seconds a process may act on a cached placement (the directory's cache time).
    ttl: float

    def moving(self, subject: str) -> None:
        """Mark `subject` moving: from now on its writers read its fence."""
        self.catalogue.set_state(subject, "moving", actor=MOVE_ACTOR)

    def switch(self, subject: str, target: dict[str, Any]) -> int:
        """Place `subject` at the move's target (epoch + 1)."""
        return self.catalogue.place(subject, target["model"], _own(subject, target), switched=True, actor=MOVE_ACTOR)

    def stay(self, subject: str, source: dict[str, Any]) -> int:
        """Leave (or put back) `subject` active at the move's source."""
        return self.catalogue.place(subject, source["model"], _own(subject, source), switched=False, actor=MOVE_ACTOR)


def _placer(runtime: Runtime) -> Placer:
    directory = runtime.tenants
    if isinstance(directory, StoredDirectory):
        return CataloguePlacer(catalogue_of(runtime), directory.ttl)
    if not isinstance(directory, PlacingDirectory):
        raise RuleViolation(
            f"this store's tenant directory ({type(directory).__name__}) cannot switch a tenant's placement; "
            "a move needs the tenant catalogue (`datastrata tenants add …` creates it)"
        )
    return directory


def _spec_dict(tenant: str, model: str, spec: LocationSpec) -> dict[str, Any]:
    """One end of a move as journalled: a store URL with credentials only sealed (like the catalogue keeps it)."""
    fields = asdict(spec)
    sealed = bool(spec.store) and redact_url(spec.store) != spec.store
    if sealed:
        fields["store"] = seal(tenant, spec.store)
    return {"model": model, "location": spec.name, "spec": fields, "sealed": sealed}


def _spec_of(tenant: str, end: dict[str, Any]) -> LocationSpec:
    fields = dict(end["spec"])
    if end.get("sealed"):
        fields["store"] = open_sealed(tenant, fields["store"])
    return LocationSpec(**fields)


def _own(tenant: str, end: dict[str, Any]) -> LocationSpec | None:
    """The tenant's own location at one end of a move (None: the shared model lives at home)."""
    return None if end["model"] == "shared" else _spec_of(tenant, end)


def _check_model(to_model: str) -> None:
    if to_model not in MODELS:
        raise ValidationError(f"to: the model must be one of {', '.join(MODELS)}; got {to_model!r}", field="to")


def start_move(
    runtime: Runtime,
    tenant: str,
    to_model: str,
    *,
    dry_run: bool = False,
    grace: float = GRACE,
    foreground: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> Job | Plan:
    """Move `tenant` to `to_model` as a background job (`dry_run`: only plan it); a journalled move resumes.

    `foreground` runs the job in this thread and returns it finished (the CLI: the process is the job's owner);
    `on_step` is called with each step's name before it runs (progress).
    Refused: an unknown tenant (404), a tenant already in `to_model` or offboarding, and a move across engines.
    """
    _check_model(to_model)
    placement = runtime.tenants.placement(tenant)
    journal = Journal(runtime.platform.db, clock=runtime.clock)
    current = journal.current("tenant", tenant)
    if current is not None:
        if current.target["model"] != to_model:
            raise RuleViolation(
                f"tenant {tenant} is already moving to {current.target['model']} (move {current.id}); "
                f"let it finish or `datastrata tenants move-reverse {tenant}`"
            )
        return _submit(runtime, journal, current, grace, foreground, on_step)  # resume where the journal stopped
    if placement.model == to_model:
        raise ValidationError(f"to: tenant {tenant} is already in the {to_model} model", field="to")
    if placement.state != "active":
        raise RuleViolation(f"tenant {tenant} is {placement.state}: only an active tenant can move")
    source = runtime.location(placement.spec or runtime.home.spec)
    if dry_run:
        with bound_to(tenant):
            sizes = partial(TenantObjects().size, source, tenant)
            plan = plan_move(source, source, tenant, tenant_tables(source.db), TenantEvents(), sizes)
            archived = TenantArchive().plan(source, tenant)
            cold = TenantColdRows().size(source, tenant)
        return replace(plan, target=to_model, archived=archived, cold=cold)
    if not placement.catalogued:
        raise RuleViolation(
            f"tenant {tenant} is not in the tenant catalogue, so nothing could record where it moves; "
            f"catalogue it first (`datastrata tenants add {tenant} --tier indie`)"
        )
    _placer(runtime)  # refused before anything is provisioned
    spec = provisioner(to_model).provision(runtime, tenant) or runtime.home.spec
    target = runtime.location(spec)
    if target.db.dialect != source.db.dialect:
        provisioner(to_model).destroy(runtime, tenant, spec)
        raise ValidationError(
            f"to: {to_model} would place {tenant} on {target.db.dialect} but it lives on {source.db.dialect}; "
            "a move cannot cross engines (checksums differ): export and import instead",
            field="to",
        )
    ends = _spec_dict(tenant, placement.model, source.spec), _spec_dict(tenant, to_model, target.spec)
    try:
        move = journal.create("tenant", tenant, *ends)
    except BaseException:  # e.g. another process journalled a move of it meanwhile: nothing is left provisioned
        provisioner(to_model).destroy(runtime, tenant, spec)
        raise
    return _submit(runtime, journal, move, grace, foreground, on_step)


def _mover(runtime: Runtime, journal: Journal, move: Move, **options: Any) -> Mover:
    source = runtime.location(_spec_of(move.subject, move.source))
    target = runtime.location(_spec_of(move.subject, move.target))
    for location in (source, target):
        runtime.pin(location)  # open for the whole move
    objects = TenantObjects()
    return Mover(
        journal,
        move,
        source,
        target,
        tenant_tables(source.db),
        _placer(runtime),
        events=TenantEvents(),
        objects=objects,
        archived=TenantArchive(objects),
        cold=TenantColdRows(),
        followers=_followers(runtime),
        clock=runtime.clock,
        **options,
    )


def _followers(runtime: Runtime) -> Callable[[Location], None]:
    """Bring the read models of a move's target to its log's head: the followers this process drives there.

    A follower that fails stays in its own boundary (the worker retries it); the move goes on. A process that
    drives no followers (a CLI without the worker) leaves them to the worker, which follows the new location.
    """

    def catch_up(location: Location) -> None:
        home = location.name == runtime.home.name
        with runtime.as_platform():
            if not home:
                runtime.follow_location(location)
            for name, runner in list(runtime.runners.items()):
                if ("@" not in name) if home else name.endswith(f"@{location.name}"):
                    try:
                        while runner.run_once():
                            pass
                    except Exception as exc:  # its boundary reports it on the next worker round
                        log.warning("follower %s did not reach the head of %s: %s", name, location.name, exc)

    return catch_up


def _submit(
    runtime: Runtime,
    journal: Journal,
    move: Move,
    grace: float,
    foreground: bool,
    on_step: Callable[[str], None] | None = None,
) -> Job:
    def work(progress: Callable[[int, int], None]) -> dict[str, Any]:
        steps = {"on_step": on_step} if on_step is not None else {}
        mover = _mover(runtime, journal, move, grace=grace, on_batch=progress, **steps)
        try:
            with bound_to(move.subject):  # the tenant's rows, as its own transactions see them (RLS, the guard)
                done = mover.run()
        except MoveStopped:  # reversed meanwhile: the reversal did the rest
            done = journal.get(move.id)
        _clean_up(runtime, done)
        if done.error and done.state not in ("completed", "reversed"):
            raise RuleViolation(done.error)
        return {"move": done.id, "state": done.state, "step": done.step, "timings": done.timings}

    jobs = jobs_of(runtime)
    if foreground:
        return jobs.run(jobs.create(JOB_KIND, move.id), work)
    return jobs.submit(JOB_KIND, move.id, work)  # one job per move: a move back runs beside its reversed one


def _clean_up(runtime: Runtime, move: Move) -> None:
    """Destroy the place a move left empty: a completed move's source, a failed one's target (not the shared home)."""
    end = {COMPLETED: move.source, FAILED: move.target}.get(move.state)
    if end is None or end["model"] == "shared":
        return
    provisioner(end["model"]).destroy(runtime, move.subject, _spec_of(move.subject, end))


def move_status(runtime: Runtime, tenant: str) -> list[Move]:
    """Return `tenant`'s moves, newest first (NotFound for a tenant the directory does not hold)."""
    runtime.tenants.placement(tenant)
    return Journal(runtime.platform.db, clock=runtime.clock).of("tenant", tenant)


def reverse_move(runtime: Runtime, tenant: str, *, foreground: bool = False, grace: float = GRACE) -> Move | Job:
    """Reverse `tenant`'s move until it completes: before its switch at once, after it by a move back (a job)."""
    journal = Journal(runtime.platform.db, clock=runtime.clock)
    current = journal.current("tenant", tenant)
    if current is None:
        raise NotFound(f"tenant {tenant} has no running or switched move; `tenants move-status {tenant}`", field="id")
    with bound_to(tenant):
        back = _mover(runtime, journal, current).reverse()
    if back.id == current.id:
        if current.target["model"] != "shared":  # reversed before its switch: the target's place goes too
            provisioner(current.target["model"]).destroy(runtime, tenant, _spec_of(tenant, current.target))
        return back
    return _submit(runtime, journal, back, grace, foreground)
