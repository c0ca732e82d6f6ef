"""Signing in to the console with an API key typed in a form, and signing out: ``/console/login``, ``/logout``.

The key travels only in a POST body, never in a URL; the answer sets a cookie holding a new random session id
(HttpOnly, SameSite=Strict, Path=/console, Secure over https). Attempts are rate-limited per client address.
"""

from __future__ import annotations

import math
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from datastrata.console.access import SESSION_COOKIE, Acting, Visitor, check_same_origin
from datastrata.console.render import PREFIX, SECURITY_HEADERS, page
from datastrata.console.routing import ConsoleRoute
from datastrata.console.sessions import sessions_of
from datastrata.core.errors import Unauthorized
from datastrata.security.ratelimit import RateLimiter

#: Sign-in attempts a client address may make at once …
SIGNIN_BURST = 10
#: … and how many a second after that (one every 6 s).
SIGNIN_RATE = 1 / 6
#: The longest form fields taken (an API key is 60 characters).
KEY_MAX = 200
NEXT_MAX = 2000

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Return where to go after sign-in: `target` if it is a path of the console, else the console's home."""
    if not target or len(target) > NEXT_MAX or "\\" in target or any(ord(c) < 0x21 for c in target):
        return PREFIX
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return PREFIX
    if not (parts.path == PREFIX or parts.path.startswith(f"{PREFIX}/")) or ".." in parts.path.split("/"):
        return PREFIX
    return target


def signin_limiter(request: Request) -> RateLimiter:
    """The app's limiter of sign-in attempts (one bucket per client address), made on first use."""
    state = request.app.state
    if not hasattr(state, "console_signins"):
        state.console_signins = RateLimiter(SIGNIN_RATE, SIGNIN_BURST)
    limiter: RateLimiter = state.console_signins
    return limiter


def login_page(request: Request, *, next_path: str, status: int = 200, problem: str | None = None) -> HTMLResponse:
    """The sign-in form (with what went wrong, when a sign-in was refused)."""
    return page(request, "login.html", title="Sign in", status=status, next_path=next_path, problem=problem)


@router.get(f"{PREFIX}/login")
def login_form(
    request: Request, next_path: Annotated[str | None, Query(alias="next", max_length=NEXT_MAX)] = None
) -> HTMLResponse:
    """The sign-in form: an API key from `datastrata keys create`."""
    return login_page(request, next_path=safe_next(next_path))


@router.post(f"{PREFIX}/login")
async def login(
    request: Request,
    key: Annotated[str, Form(max_length=KEY_MAX)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=NEXT_MAX)] = PREFIX,
) -> Response:
    """Sign in with an API key: a new session and its cookie, then on to `next` (a console path only)."""
    check_same_origin(request)  # no session yet, so no CSRF token: the browser's Origin says where the form was
    target = safe_next(next_path)
    client = request.client.host if request.client else "unknown"
    wait = signin_limiter(request).take(f"signin:{client}")
    if wait:
        retry = max(1, math.ceil(wait))
        problem = f"too many sign-in attempts from {client}; try again in {retry} s"
        refused = login_page(request, next_path=target, status=429, problem=problem)
        refused.headers["Retry-After"] = str(retry)
        return refused
    if not key.strip():
        return login_page(request, next_path=target, status=422, problem="key: paste an API key (ak_<id>.<secret>)")
    try:
        signed = await run_in_threadpool(sessions_of(request.app.state.runtime).open, key)
    except Unauthorized as exc:
        return login_page(request, next_path=target, status=401, problem=exc.message)
    old = request.cookies.get(SESSION_COOKIE)
    if old:  # a new sign-in replaces the session the browser had (no fixation of an older id)
        await run_in_threadpool(sessions_of(request.app.state.runtime).close, old)
    answer = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
    answer.set_cookie(
        SESSION_COOKIE,
        signed.session_id,
        max_age=int(sessions_of(request.app.state.runtime).absolute.total_seconds()),
        path=PREFIX,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return answer


@router.post(f"{PREFIX}/logout")
async def logout(request: Request, visitor: Visitor = Acting("viewer")) -> Response:
    """Sign out: the session is deleted from the store and its cookie cleared."""
    if visitor.session_id is not None:
        await run_in_threadpool(sessions_of(request.app.state.runtime).close, visitor.session_id)
    answer = RedirectResponse(f"{PREFIX}/login", status_code=303, headers=SECURITY_HEADERS)
    answer.delete_cookie(SESSION_COOKIE, path=PREFIX, secure=request.url.scheme == "https", httponly=True)
    return answer
