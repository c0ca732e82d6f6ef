"""One error hierarchy for every package: each message says what was wrong and what to do."""

from __future__ import annotations


class DatastrataError(Exception):
    """Base of every error datastrata raises on purpose."""

    #: True when the command was refused (bad input, unknown id, broken rule), False when the system failed.
    refused: bool = True
    #: HTTP status the API answers with.
    status: int = 400
    #: Short machine-readable title used in problem+json bodies.
    title: str = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class ValidationError(DatastrataError):
    """Input is malformed: a field is missing, of the wrong type or out of range."""

    status = 422
    title = "validation error"


class NotFound(DatastrataError):
    """The named thing does not exist."""

    status = 404
    title = "not found"


class ConcurrencyConflict(DatastrataError):
    """Someone else changed the thing first (optimistic concurrency)."""

    status = 409
    title = "concurrency conflict"

    def __init__(self, message: str, *, stream_id: str = "", expected: int = -1, actual: int = -1) -> None:
        super().__init__(message)
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class RuleViolation(DatastrataError):
    """The command is well-formed but a business rule forbids it."""

    status = 409
    title = "rule violation"


class TenantIsolationError(DatastrataError):
    """A read or write tried to cross a tenant boundary."""

    status = 403
    title = "tenant isolation"


class ConsistencyTimeout(DatastrataError):
    """A read waited for a projection to reach a consistency token and gave up."""

    refused = False
    status = 504
    title = "consistency timeout"


class BackendUnavailable(DatastrataError):
    """A store, cache or bus could not be reached or failed."""

    refused = False
    status = 503
    title = "backend unavailable"


class ConfigurationError(DatastrataError):
    """A URL or setting is malformed or names an unsupported backend."""

    status = 422
    title = "configuration error"


class Unauthorized(DatastrataError):
    """The caller is not authenticated: no API key, or one that is malformed, unknown, revoked or expired."""

    status = 401
    title = "unauthorized"


class Forbidden(DatastrataError):
    """The caller is authenticated but its role does not allow the action."""

    status = 403
    title = "forbidden"


class RateLimited(DatastrataError):
    """The caller sent more requests than its rate limit allows; it may retry after `retry_after` seconds."""

    refused = False
    status = 429
    title = "too many requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EventFailed(DatastrataError):
    """A follower could not apply one event of the log (it is retried, then parked in its dead letters)."""

    refused = False
    status = 500
    title = "event failed"

    def __init__(
        self,
        follower: str,
        event_id: str,
        position: int,
        error: str,
        *,
        event_type: str = "",
        stream_id: str = "",
        tenant_id: str = "default",
    ) -> None:
        super().__init__(
            f"follower {follower!r} failed on event {event_id} at position {position}: {error}; see "
            "`datastrata deadletters list`"
        )
        self.follower = follower
        self.event_id = event_id
        self.position = position
        self.error = error
        self.type = event_type
        self.stream_id = stream_id
        self.tenant_id = tenant_id


class RebuildFailed(DatastrataError):
    """A rebuild stopped before its switch: the live read model is untouched and still answers."""

    refused = False
    status = 409
    title = "rebuild failed"
