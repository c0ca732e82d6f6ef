"""Who is looking: the console's visitor (a principal and its CSRF token), the role a page or form needs.

Pages depend on :func:`viewer` (any role may look); forms that change something depend on :func:`acting` with the
role the matching API route needs, which also checks the form's CSRF token and that the request came from the
console's own origin. The visitor's tenant is the request's tenant, so one tenant's console reads nothing of another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Form, Request
from fastapi.concurrency import run_in_threadpool

from datastrata.console.sessions import sessions_of
from datastrata.core.errors import DatastrataError, Forbidden
from datastrata.core.tenancy import tenant
from datastrata.security.auth import LOCAL_PRINCIPAL
from datastrata.security.auth import _take_rate as take_rate
from datastrata.security.keys import Principal

#: The form field every console form carries its CSRF token in.
CSRF_FIELD = "csrf"
#: The cookie holding the visitor's session id (and nothing else).
SESSION_COOKIE = "datastrata_session"


class SignInRequired(DatastrataError):
    """The request has no signed-in visitor: the console answers with the sign-in page."""

    status = 401
    title = "Sign-in required"


@dataclass(frozen=True, slots=True)
class Visitor:
    """The principal a console request acts as, and the CSRF token its forms must carry."""

    principal: Principal
    csrf: str
    #: The server-side session the visitor signed in with (None: ``serve --insecure-local``, no sign-in).
    session_id: str | None = None

    @property
    def can_edit(self) -> bool:
        """Whether the visitor may use forms that change data (editor or admin)."""
        return self.principal.holds("editor")

    @property
    def is_admin(self) -> bool:
        """Whether the visitor may use operator actions (retry a dead letter, move a tenant, reshard)."""
        return self.principal.holds("admin")


def console_secret(request: Request) -> bytes:
    """The app's secret for CSRF tokens (random per app: tokens do not outlive the server)."""
    state = request.app.state
    if not hasattr(state, "console_secret"):
        state.console_secret = secrets.token_bytes(32)
    secret: bytes = state.console_secret
    return secret


def csrf_token(request: Request, binding: str) -> str:
    """The CSRF token of the visitor bound to `binding` (a session id, or the local operator)."""
    return hmac.new(console_secret(request), binding.encode(), hashlib.sha256).hexdigest()


async def find_visitor(request: Request) -> Visitor:
    """The request's visitor, or :class:`SignInRequired` (store reads go to the thread pool).

    A signed-in visitor is the principal of the session its cookie names, re-checked on every request: the key
    still active, its tenant still served, and the key's rate limit (the API's) not exceeded.
    """
    if request.app.state.auth.insecure_local:
        return Visitor(LOCAL_PRINCIPAL, csrf_token(request, "local"))
    session_id = request.cookies.get(SESSION_COOKIE, "")
    if session_id:
        runtime = request.app.state.runtime
        principal = await run_in_threadpool(sessions_of(runtime).find, session_id)
        if principal is not None:
            await run_in_threadpool(take_rate, request.app.state.rate_limiter, runtime, principal)
            return Visitor(principal, csrf_token(request, session_id), session_id)
    raise SignInRequired("sign in with an API key to use the console")


def visitor_of(request: Request) -> Visitor | None:
    """The visitor found for this request earlier (None on a page shown before sign-in)."""
    found = getattr(request.state, "visitor", None)
    return found if isinstance(found, Visitor) else None


async def viewer(request: Request) -> AsyncIterator[Visitor]:
    """Dependency of every page: the visitor, the request running in its tenant.

    Asynchronous, like the API's own authentication: the tenant is set in the request's context, which the
    page's handler (in the thread pool) runs in a copy of; a synchronous generator would enter and leave it in
    different threads' contexts.
    """
    visitor = await find_visitor(request)
    request.state.visitor = visitor
    with tenant(visitor.principal.tenant):
        yield visitor


def acting(role: str = "editor") -> Callable[..., AsyncIterator[Visitor]]:
    """Dependency of a form that changes something: a visitor holding `role`, a valid CSRF token, same origin."""

    async def dependency(request: Request, csrf: str = Form("", alias=CSRF_FIELD)) -> AsyncIterator[Visitor]:
        visitor = await find_visitor(request)
        request.state.visitor = visitor
        check_same_origin(request)
        if not hmac.compare_digest(csrf.encode(), visitor.csrf.encode()):
            raise Forbidden("the form's CSRF token is missing or stale; reload the page and submit it again")
        if not visitor.principal.holds(role):
            raise Forbidden(
                f"this action needs the {role} role; API key {visitor.principal.key_id} is {visitor.principal.role}"
            )
        with tenant(visitor.principal.tenant):
            yield visitor

    return dependency


def check_same_origin(request: Request) -> None:
    """Refuse a form posted from another site (the browser's Origin or Sec-Fetch-Site says where it came from)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise Forbidden(f"forms are accepted only from the console itself; this one came from a {site} page")
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        expected = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
        if origin != expected:
            raise Forbidden(f"forms are accepted only from {expected}; this one came from {origin}")


def Viewer() -> Any:  # noqa: N802 - reads as a type in a signature: ``visitor: Visitor = Viewer()``
    """``Depends(viewer)``, for page signatures."""
    return Depends(viewer)


def Acting(role: str = "editor") -> Any:  # noqa: N802
    """``Depends(acting(role))``, for form handlers' signatures."""
    return Depends(acting(role))
