"""The overview page: the systems, the tenants, every follower's lag and state, dead letters, health."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from datastrata.catalog import systems
from datastrata.console.access import Acting, Viewer, Visitor
from datastrata.console.pages import Page
from datastrata.console.render import PREFIX, SECURITY_HEADERS, page
from datastrata.console.routing import console_router
from datastrata.core.errors import Forbidden
from datastrata.core.tenancy import platform
from datastrata.core.validation import MAX_INT
from datastrata.runtime import Runtime
from datastrata.runtime import deadletters as operations
from datastrata.runtime.health import report
from datastrata.security.auth import is_platform_operator
from datastrata.tenancy.catalogue import catalogue_of

router = console_router("overview")
PAGE = Page("overview", "Overview", 10, "Systems, tenants, followers' lag and state, dead letters, health.", router)
LetterId = Annotated[int, Path(ge=1, le=MAX_INT, description="Dead letter id")]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _worker_alive(request: Request) -> bool | None:
    thread = getattr(request.app.state, "worker", None)
    return None if thread is None else bool(thread.is_alive())


@router.get("")
def overview(request: Request, visitor: Visitor = Viewer()) -> HTMLResponse:
    """Everything at a glance; the platform operator also sees every tenant and the dead letters."""
    runtime = _runtime(request)
    with platform():  # what the public /health answers: the platform's followers, read outside any tenant
        health = report(runtime, ready=True, worker_alive=_worker_alive(request)).to_dict()
    operator = is_platform_operator(visitor.principal)
    tenants: list[dict[str, Any]] = []
    letters: list[dict[str, Any]] = []
    if operator:  # both span every tenant: the API's /tenants and /deadletters are the platform operator's too
        tenants = [t.to_dict() for t in catalogue_of(runtime).list()]
        letters = [x.to_dict() for x in runtime.dead_letters.open()]
    return page(
        request,
        "overview.html",
        title="Overview",
        systems=[(e.name, e.help) for e in systems()],
        health=health,
        operator=operator,
        tenants=tenants,
        letters=letters,
    )


def _operator_only(visitor: Visitor) -> None:
    if not is_platform_operator(visitor.principal):
        raise Forbidden(
            f"dead letters span every tenant: only the platform operator may act on them; API key "
            f"{visitor.principal.key_id} is of tenant {visitor.principal.tenant!r}"
        )


@router.post("/deadletters/{letter_id}/retry")
def retry(request: Request, letter_id: LetterId, visitor: Visitor = Acting("admin")) -> Response:
    """Try the dead letter's event again (``POST /deadletters/{id}/retry``), then back to the overview."""
    _operator_only(visitor)
    operations.retry(_runtime(request), letter_id)
    return RedirectResponse(f"{PREFIX}/overview", status_code=303, headers=SECURITY_HEADERS)


@router.post("/deadletters/{letter_id}/skip")
def skip(request: Request, letter_id: LetterId, visitor: Visitor = Acting("admin")) -> Response:
    """Move past the dead letter's event for good (``POST /deadletters/{id}/skip``), then back to the overview."""
    _operator_only(visitor)
    operations.skip(_runtime(request), letter_id)
    return RedirectResponse(f"{PREFIX}/overview", status_code=303, headers=SECURITY_HEADERS)
