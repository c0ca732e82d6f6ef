"""How one service calls another over HTTP: JSON in, JSON out, problem+json answers raised as datastrata errors.

A service's typed client has two implementations with one interface: the service object itself (in-process) and
an HTTP client built on :class:`HttpTransport`, so the caller cannot tell which it holds. An error the far service
answers with comes back as the same error class (a 404 is :class:`NotFound`, a rule broken a :class:`RuleViolation`…)
with the far service's message and field.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from datastrata.core import errors
from datastrata.core.errors import BackendUnavailable, DatastrataError

#: Seconds a call waits for the far service by default.
TIMEOUT = 10.0
#: The error classes a problem's title names.
_BY_TITLE: dict[str, type[DatastrataError]] = {
    cls.title: cls
    for cls in (
        errors.ValidationError,
        errors.NotFound,
        errors.ConcurrencyConflict,
        errors.RuleViolation,
        errors.TenantIsolationError,
        errors.ConsistencyTimeout,
        errors.BackendUnavailable,
        errors.ConfigurationError,
        errors.Unauthorized,
        errors.Forbidden,
        errors.RateLimited,
    )
}


class Transport(Protocol):
    """What a typed HTTP client calls through: :class:`HttpTransport`, or one that finds its peer first."""

    def call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> Any:
        """Send one request; return its JSON body, or raise the error its problem names."""


class HttpTransport:
    """Calls a datastrata HTTP API as one principal (its API key), raising the far side's errors as ours."""

    def __init__(
        self,
        base_url: str = "",
        *,
        api_key: str | None = None,
        http: httpx.Client | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        self.http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self.owned = http is None
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> Any:
        """Send one request; return its JSON body, or raise the error its problem names (`key`: Idempotency-Key)."""
        headers = dict(self.headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        try:
            answer = self.http.request(method, path, json=body, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"{method} {path} did not get an answer: {exc}; is the service up?") from exc
        if answer.status_code >= 400:
            raise _error_of(answer, f"{method} {path}")
        return answer.json() if answer.content else None

    def close(self) -> None:
        """Close the connections this transport opened."""
        if self.owned:
            self.http.close()


def _error_of(answer: httpx.Response, what: str) -> DatastrataError:
    """The datastrata error a problem+json answer describes (a generic one for an answer without a problem)."""
    try:
        problem = answer.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    detail = str(problem.get("detail") or f"{what} answered {answer.status_code}")
    field = problem.get("field")
    cls = _BY_TITLE.get(str(problem.get("title")))
    if cls is None:
        cls = BackendUnavailable if answer.status_code >= 500 else DatastrataError
    error = cls(detail, field=str(field) if field else None)
    if cls is DatastrataError:
        error.status = answer.status_code
    return error
