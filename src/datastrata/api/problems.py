"""Errors as RFC 9457 problem+json: how every datastrata app (the API, a trading region's process) answers them."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from datastrata.api.contract import PROBLEM
from datastrata.core.errors import DatastrataError


def problem(
    status: int, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """Build an RFC 9457 problem response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install_problems(app: FastAPI) -> None:
    """Answer `app`'s errors as problem+json: a datastrata error with its title, status and field."""

    @app.exception_handler(DatastrataError)
    async def _datastrata_error(request: Request, exc: DatastrataError) -> JSONResponse:
        extra: dict[str, Any] = {"field": exc.field} if exc.field else {}
        return problem(exc.status, exc.title, exc.message, **extra)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "body", "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, "validation error", detail, field=errors[0]["field"] if errors else None, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = f"{request.method} {request.url.path}: {exc.detail}"
        return problem(exc.status_code, str(exc.detail).lower(), detail, headers=dict(exc.headers or {}))
