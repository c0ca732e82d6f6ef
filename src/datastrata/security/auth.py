"""HTTP authentication: one bearer-key dependency for the whole app, roles per route, a rate limit per key.

Every route needs a key except the public operations routes (:data:`PUBLIC`). The key gives a principal; the
request runs in the principal's tenant (``Scope.of`` picks it up) and the principal is the audit actor.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import typer
from fastapi import FastAPI, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from datastrata.core.errors import ConfigurationError, Forbidden, NotFound, RateLimited, Unauthorized
from datastrata.core.tenancy import DEFAULT_TENANT, tenant
from datastrata.runtime import Runtime
from datastrata.security.keys import Principal, key_store
from datastrata.security.ratelimit import DEFAULT_BURST, DEFAULT_RATE, RateLimiter
from datastrata.tenancy.tiers import tier

log = logging.getLogger(__name__)

#: The browser console's pages: they authenticate with a sign-in session, not a bearer key (console/access.py).
CONSOLE = "/console"
#: Routes anyone may call: probes, metrics and the API's own description.
PUBLIC = frozenset({"/health", "/ready", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
#: Last path segments of operator actions (admin only): rebuilds, verification, activation, bulk generators, tier runs,
#: erasure. (Tenant moves are under ``/tenants``, an operator area.)
OPERATOR_ACTIONS = frozenset({"rebuild", "verify", "activate", "seed", "simulate", "archive", "erase"})
#: First path segments whose every route is an operator action (admin only).
OPERATOR_AREAS = frozenset({"deadletters", "keys", "jobs", "rebuild", "shards", "tenants"})
#: Areas that span every tenant: only keys of the platform's own tenant (``default``) may call them, with the role
#: the route needs (admin for the operator areas, so the platform operator). ``jobs`` is not one: a tenant's admin
#: sees its own jobs there (and another tenant's job is a 404).
PLATFORM_AREAS = frozenset({"deadletters", "rebuild", "shards", "tenants", "tiering"})
#: POST routes that compute an answer and write nothing, so a viewer may call them.
READ_ONLY_POSTS = frozenset({"/design"})
#: The principal of ``serve --insecure-local``: an admin of the default tenant, the audit actor ``local``.
LOCAL_PRINCIPAL = Principal("local", DEFAULT_TENANT, "admin")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PROBLEM = "application/problem+json"

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    bearerFormat="ak_<id>.<secret>",
    description="An API key from `datastrata keys create`, sent as `Authorization: Bearer <key>`.",
)


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """How the app authenticates: keys (or none, on loopback, with ``insecure_local``) and the per-key rate."""

    insecure_local: bool = False
    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST


def required_role(method: str, path: str) -> str | None:
    """Return the role a route needs (None: public, or the console's, which signs its visitors in itself)."""
    if path in PUBLIC or path == CONSOLE or path.startswith(f"{CONSOLE}/"):
        return None
    segments = [s for s in path.split("/") if s]
    if (segments and segments[0] in OPERATOR_AREAS) or (segments and segments[-1] in OPERATOR_ACTIONS):
        return "admin"
    if method.upper() in WRITES and path not in READ_ONLY_POSTS:
        return "editor"
    return "viewer"


def is_platform_operator(principal: Principal) -> bool:
    """Whether `principal` operates the whole platform: an admin of the ``default`` tenant."""
    return principal.tenant == DEFAULT_TENANT and principal.holds("admin")


def tenant_filter(principal: Principal) -> str | None:
    """Return the tenant an operator listing must be narrowed to (None: the platform operator sees every tenant)."""
    return None if is_platform_operator(principal) else principal.tenant


def platform_only(path: str) -> bool:
    """Whether the route `path` spans every tenant (an area only the platform operator may call)."""
    segments = [s for s in path.split("/") if s]
    return bool(segments) and segments[0] in PLATFORM_AREAS


def is_loopback(host: str) -> bool:
    """Whether `host` names only this machine (127.0.0.0/8, ::1 or localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def principal_of(request: Request) -> Principal:
    """Return the principal the request authenticated as."""
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):  # only reachable on a route added around the dependency
        raise Unauthorized("this request carries no authenticated principal; send `Authorization: Bearer <key>`")
    return principal


async def authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)
) -> AsyncIterator[Principal | None]:
    """Authenticate the request's bearer key, check the route's role and rate, and run it in the key's tenant."""
    route = request.scope.get("route")
    path = route.path if isinstance(route, APIRoute) else request.url.path
    needed = required_role(request.method, path)
    if needed is None:
        yield None
        return
    config: AuthConfig = request.app.state.auth
    if config.insecure_local:
        principal = LOCAL_PRINCIPAL
    else:
        if credentials is None:
            present = "Authorization" in request.headers
            raise Unauthorized(
                ("the Authorization header is not `Bearer <key>`" if present else "no API key")
                + "; send `Authorization: Bearer <key>` with a key from `datastrata keys create`"
            )
        principal = await run_in_threadpool(key_store(request.app.state.runtime).authenticate, credentials.credentials)
    _take_rate(request.app.state.rate_limiter, request.app.state.runtime, principal)  # cached: a store read a second
    if not principal.holds(needed):
        raise Forbidden(
            f"{request.method} {path} needs the {needed} role; API key {principal.key_id} is {principal.role}; "
            f"ask an admin for a key with `datastrata keys create --role {needed}`"
        )
    if platform_only(path) and principal.tenant != DEFAULT_TENANT:
        raise Forbidden(
            f"{request.method} {path} spans every tenant: only the platform operator (keys of tenant "
            f"{DEFAULT_TENANT!r}) may call it; API key {principal.key_id} is of tenant {principal.tenant!r}"
        )
    request.state.principal = principal
    with tenant(principal.tenant):
        yield principal


def _take_rate(limiter: RateLimiter, runtime: Runtime, principal: Principal) -> None:
    """Take a token for the request: from the tenant's bucket at its tier's rate, or the key's at the server's."""
    try:
        placement = runtime.tenants.placement(principal.tenant)
    except NotFound:
        placement = None
    if placement is None or placement.state in ("offboarding", "offboarded"):
        raise Unauthorized(
            f"API key {principal.key_id} belongs to a tenant that is no longer served; ask the platform operator"
        )
    if not placement.catalogued:  # the platform's own tenant: one bucket per key, at --rate-limit/--burst
        wait = limiter.take(principal.key_id)
        if wait:
            retry = max(1, math.ceil(wait))
            raise RateLimited(
                f"API key {principal.key_id} sent more than {limiter.burst} requests at once or more than "
                f"{limiter.rate:g} a second; retry after {retry} s",
                retry_after=retry,
            )
        return
    limit = tier(placement.tier)  # every key of a tenant shares its tier's bucket
    wait = limiter.take(f"tenant:{principal.tenant}", rate=limit.rate, burst=limit.burst)
    if wait:
        retry = max(1, math.ceil(wait))
        raise RateLimited(
            f"tenant {principal.tenant} ({limit.name}) sent more than {limit.burst} requests at once or more than "
            f"{limit.rate:g} a second; retry after {retry} s (a higher tier allows more)",
            retry_after=retry,
        )


def install_auth(app: FastAPI, config: AuthConfig) -> None:
    """Record `config` on `app`, answer 401 and 429 with their headers, and describe the scheme in the OpenAPI.

    The dependency itself is given to ``FastAPI(dependencies=...)``, so every route, present and future, needs a
    key unless it is :data:`PUBLIC`.
    """
    app.state.auth = config
    app.state.rate_limiter = RateLimiter(config.rate, config.burst)

    @app.exception_handler(Unauthorized)
    async def _unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
        return _problem(exc.status, exc.title, exc.message, {"WWW-Authenticate": 'Bearer realm="datastrata"'})

    @app.exception_handler(RateLimited)
    async def _rate_limited(request: Request, exc: RateLimited) -> JSONResponse:
        return _problem(exc.status, exc.title, exc.message, {"Retry-After": str(exc.retry_after)})

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            for path, operations in schema.get("paths", {}).items():
                for method, operation in operations.items():
                    needed = required_role(method, path)
                    if needed is None:
                        operation.pop("security", None)
                        continue
                    responses = operation.setdefault("responses", {})
                    responses.setdefault("401", {"description": "No API key, or not a valid one (problem+json)"})
                    if needed != "viewer":
                        responses.setdefault("403", {"description": f"The key's role is not {needed} (problem+json)"})
                    responses.setdefault("429", {"description": "The key's rate limit; see Retry-After (problem+json)"})
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def auth_dependency() -> Any:
    """Return the dependency to give ``FastAPI(dependencies=[...])``."""
    return Security(authenticate)


def _problem(status: int, title: str, detail: str, headers: dict[str, str]) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def insecure_local_config(host: str, rate: float = DEFAULT_RATE, burst: int = DEFAULT_BURST) -> AuthConfig:
    """Return the keyless configuration of ``serve --insecure-local``, refused unless `host` is loopback."""
    if not is_loopback(host):
        raise ConfigurationError(
            f"--insecure-local serves every caller as an admin, so it listens on loopback only; got --host {host}; "
            "use --host 127.0.0.1, or drop --insecure-local and send keys from `datastrata keys create`"
        )
    warning = (
        f"WARNING: --insecure-local: no API keys on {host}; every request acts as an admin of tenant "
        f"{DEFAULT_TENANT!r} (audit actor {LOCAL_PRINCIPAL.actor!r}). For demos on this machine only."
    )
    typer.secho(warning, fg="red", bold=True, err=True)
    log.warning(warning)
    return AuthConfig(insecure_local=True, rate=rate, burst=burst)
