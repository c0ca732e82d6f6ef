"""The content page: studios with their isolation model and tier, storage classes over time, grants, live moves.

The platform operator sees every catalogued studio and may move one to another isolation model (the move workflow's
job, as ``POST /tenants/{id}/moves`` starts it); any other visitor sees its own studio only, read-only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from datastrata.console.access import Acting, Viewer, Visitor
from datastrata.console.charts.bars import bars
from datastrata.console.charts.lanes import lanes
from datastrata.console.charts.progress import fraction, steps
from datastrata.console.pages import Page
from datastrata.console.pages.content_history import object_classes, storage_history
from datastrata.console.render import PREFIX, fragment, page
from datastrata.console.routing import console_router
from datastrata.core.errors import Forbidden, NotFound
from datastrata.core.tenancy import DEFAULT_TENANT, TENANT_PATTERN, tenant
from datastrata.runtime import Runtime
from datastrata.runtime.jobs import Job, jobs_of
from datastrata.runtime.moves import ACTIVE, COMPLETED, STEPS, Move
from datastrata.runtime.tenants import MODELS
from datastrata.security.auth import is_platform_operator
from datastrata.systems.content.service import ContentService
from datastrata.tenancy.catalogue import catalogue_of
from datastrata.tenancy.move import GRACE, JOB_KIND, move_status, start_move

router = console_router("content")
PAGE = Page(
    "content",
    "Content",
    60,
    "Studios with their isolation model and tier, storage classes over time, grants, and live tenant moves.",
    router,
)
StudioQuery = Annotated[str | None, Query(max_length=63, pattern=TENANT_PATTERN, description="The studio shown")]
#: The longest grace a move started here may ask for (as the API allows: a week).
MAX_GRACE = 7 * 86400.0


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _studios(runtime: Runtime, visitor: Visitor) -> list[dict[str, Any]]:
    """The catalogued studios the visitor may see: every one for the platform operator, else its own."""
    catalogue = catalogue_of(runtime)
    if is_platform_operator(visitor.principal):
        return [t.to_dict() for t in catalogue.list() if t.tenant != DEFAULT_TENANT]
    try:
        return [catalogue.get(visitor.principal.tenant).to_dict()]
    except NotFound:
        return []


def _chosen(studios: list[dict[str, Any]], wanted: str | None) -> str | None:
    """The studio to show: the one asked for if the visitor may see it (else NotFound), or the first."""
    names = [s["tenant"] for s in studios]
    if wanted is None:
        return names[0] if names else None
    if wanted not in names:
        raise NotFound(f"no studio {wanted!r} here; pick one of the studios listed on {PREFIX}/content", field="studio")
    return wanted


@router.get("")
def content_page(request: Request, studio: StudioQuery = None, visitor: Visitor = Viewer()) -> HTMLResponse:
    """Every studio visible to the visitor, and the chosen one's items, storage classes, grants and moves."""
    runtime = _runtime(request)
    studios = _studios(runtime, visitor)
    chosen = _chosen(studios, studio)
    context: dict[str, Any] = {
        "studios": studios,
        "studio": chosen,
        "operator": is_platform_operator(visitor.principal),
    }
    if chosen is not None:
        context.update(_studio_view(runtime, chosen))
        context["move"] = _move_view(runtime, visitor, chosen)
        model = next(s["model"] for s in studios if s["tenant"] == chosen)
        context["targets"] = [m for m in MODELS if m != model]
    return page(request, "content.html", title="Content", grace=GRACE, **context)


def _studio_view(runtime: Runtime, studio: str) -> dict[str, Any]:
    """The studio's items, their storage classes over time, its month's storage by class, and its grants."""
    svc: ContentService = runtime.service("content", ContentService)
    with tenant(studio):
        items = svc.items(caller_region="*")
        history = storage_history(svc, studio, items)
        stored = object_classes(svc, items)
        cost = svc.cost().to_dict()
        now = svc.clock()
        grants = [g.to_dict(now) for g in svc.grants.list_for(studio)]
        audit = svc.grants.audit(studio)
    by_class = [(name, float(s["bytes"])) for name, s in cost["storage"].items()]
    return {
        "items": [{**i.to_dict(), "stored_in": stored[i.item_id]} for i in items],
        "history": lanes(history, until=now, label=f"Storage classes of {studio}'s items over time"),
        "storage": bars(by_class, label=f"Bytes of {studio}'s footage per storage class", unit=" B"),
        "cost": cost,
        "grants": grants,
        "audit": audit[-20:],
    }


def _move_view(runtime: Runtime, visitor: Visitor, studio: str) -> dict[str, Any]:
    """The studio's latest move: its steps, its job's progress, and whether the page should keep polling it."""
    moves = move_status(runtime, studio)
    latest: Move | None = moves[0] if moves else None
    job: Job | None = None
    if latest is not None:
        mine = jobs_of(runtime).list(tenant=visitor.principal.tenant, limit=200)
        job = next((j for j in mine if j.kind == JOB_KIND and j.target == latest.id), None)
    live = latest is not None and (latest.state in ACTIVE if job is None else not job.finished)
    view: dict[str, Any] = {
        "studio": studio,
        "latest": None if latest is None else latest.to_dict(),
        "job": None if job is None else job.to_dict(),
        "live": live,
        "earlier": [m.to_dict() for m in moves[1:6]],
        "href": f"{PREFIX}/content/moves?studio={studio}",
    }
    if latest is not None:
        failed = latest.state not in (*ACTIVE, COMPLETED)
        view["steps"] = steps(
            STEPS, latest.step, label=f"Move {latest.id} of {studio}", finished=latest.state == COMPLETED, failed=failed
        )
    if job is not None:
        view["rows"] = fraction(job.position, job.goal, label=f"Job {job.id}: rows copied of rows planned")
    return view


@router.get("/moves")
def move_progress(request: Request, studio: StudioQuery = None, visitor: Visitor = Viewer()) -> HTMLResponse:
    """The studio's latest move as an htmx fragment (polled every second while it runs)."""
    runtime = _runtime(request)
    chosen = _chosen(_studios(runtime, visitor), studio)
    if chosen is None:
        raise NotFound("no studio is catalogued; `datastrata tenants add STUDIO --tier indie`", field="studio")
    return fragment("content_move.html", move=_move_view(runtime, visitor, chosen))


@router.post("/moves")
def post_move(
    request: Request,
    studio: Annotated[str, Form(max_length=63, pattern=TENANT_PATTERN)],
    to: Annotated[str, Form(max_length=40)],
    grace: Annotated[float, Form(ge=0, le=MAX_GRACE)] = GRACE,
    visitor: Visitor = Acting("admin"),
) -> RedirectResponse:
    """Start moving a studio to another isolation model as a job (the platform operator only), then show it."""
    if not is_platform_operator(visitor.principal):
        raise Forbidden("moving a studio spans tenants: only the platform operator (an admin of tenant default) may")
    start_move(_runtime(request), studio, to, grace=grace)
    return RedirectResponse(f"{PREFIX}/content?studio={studio}", status_code=303)
