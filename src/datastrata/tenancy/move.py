"""Moving a tenant to another isolation model: plan it, run it as a resumable job, see its status, reverse it.

The work is the runtime's one move workflow (:mod:`datastrata.runtime.moves`); this module says what a tenant
move carries (every state table with ``tenant_id`` in its location), where it goes (the target model's
provisioner) and who places it (the tenant directory, which must be able to switch a tenant's placement).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Protocol, runtime_checkable

from datastrata.core.errors import NotFound, RuleViolation, ValidationError
from datastrata.runtime.jobs import Job, jobs_of
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.moves import Journal, Move, Mover, MoveStopped, Placer, Plan, plan_move
from datastrata.runtime.movetables import tenant_tables
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.tenants import MODELS
from datastrata.tenancy.models import provisioner

#: Seconds between a move's switch and deleting the source's copy (a stale process has long re-read by then).
GRACE = 60.0
#: The job kind of a move (``GET /jobs``, ``datastrata jobs list``).
JOB_KIND = "tenant-move"


@runtime_checkable
class PlacingDirectory(Placer, Protocol):
    """A tenant directory that can also switch where a tenant lives (what a move needs of the catalogue)."""


def _placer(runtime: Runtime) -> Placer:
    directory = runtime.tenants
    if not isinstance(directory, PlacingDirectory):
        raise RuleViolation(
            f"this store's tenant directory ({type(directory).__name__}) cannot switch a tenant's placement; "
            "a move needs the tenant catalogue (`datastrata tenants add …` creates it)"
        )
    return directory


def _spec_dict(model: str, spec: LocationSpec) -> dict[str, Any]:
    return {"model": model, "location": spec.name, "spec": asdict(spec)}


def _spec_of(end: dict[str, Any]) -> LocationSpec:
    return LocationSpec(**end["spec"])


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
) -> Job | Plan:
    """Move `tenant` to `to_model` as a background job (`dry_run`: only plan it); a journalled move resumes.

    `foreground` runs the job in this thread and returns it finished (the CLI: the process is the job's owner).
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
        return _submit(runtime, journal, current, grace, foreground)  # resume where the journal stopped
    if placement.model == to_model:
        raise ValidationError(f"to: tenant {tenant} is already in the {to_model} model", field="to")
    if placement.state != "active":
        raise RuleViolation(f"tenant {tenant} is {placement.state}: only an active tenant can move")
    source = runtime.location(placement.spec or runtime.home.spec)
    if dry_run:
        plan = plan_move(source, source, tenant, tenant_tables(source.db), None)
        return Plan(plan.subject, source.name, to_model, plan.tables, plan.events, plan.nbytes, plan.seconds)
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
    move = journal.create("tenant", tenant, _spec_dict(placement.model, source.spec), _spec_dict(to_model, target.spec))
    return _submit(runtime, journal, move, grace, foreground)


def _mover(runtime: Runtime, journal: Journal, move: Move, **options: Any) -> Mover:
    source, target = runtime.location(_spec_of(move.source)), runtime.location(_spec_of(move.target))
    for location in (source, target):
        runtime.pin(location)  # open for the whole move
    return Mover(
        journal, move, source, target, tenant_tables(source.db), _placer(runtime), clock=runtime.clock, **options
    )


def _submit(runtime: Runtime, journal: Journal, move: Move, grace: float, foreground: bool) -> Job:
    def work(progress: Callable[[int, int], None]) -> dict[str, Any]:
        mover = _mover(runtime, journal, move, grace=grace, on_batch=progress)
        try:
            done = mover.run()
        except MoveStopped:  # reversed meanwhile: the reversal did the rest
            done = journal.get(move.id)
        if done.error and done.state not in ("completed", "reversed"):
            raise RuleViolation(done.error)
        return {"move": done.id, "state": done.state, "step": done.step, "timings": done.timings}

    jobs = jobs_of(runtime)
    if foreground:
        return jobs.run(jobs.create(JOB_KIND, move.id), work)
    return jobs.submit(JOB_KIND, move.id, work)  # one job per move: a move back runs beside its reversed one


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
    back = _mover(runtime, journal, current).reverse()
    if back.id == current.id:
        return back
    return _submit(runtime, journal, back, grace, foreground)
