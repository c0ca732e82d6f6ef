"""The tenant context: every stored fact carries the tenant it belongs to."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextvars import ContextVar

from datastrata.core.errors import ValidationError

DEFAULT_TENANT = "default"
_TENANT: ContextVar[str] = ContextVar("datastrata_tenant", default=DEFAULT_TENANT)
_TENANT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def current_tenant() -> str:
    """Return the tenant of the current context (default: ``"default"``)."""
    return _TENANT.get()


def check_tenant_id(tenant_id: str) -> str:
    """Refuse a malformed tenant id."""
    if not isinstance(tenant_id, str) or not _TENANT_RE.match(tenant_id):
        raise ValidationError(
            f"tenant_id must be 1-63 of a-z, 0-9, '_' or '-', starting with a letter or digit; got {tenant_id!r}",
            field="tenant_id",
        )
    return tenant_id


@contextlib.contextmanager
def tenant(tenant_id: str) -> Iterator[str]:
    """Run the block on behalf of `tenant_id`."""
    check_tenant_id(tenant_id)
    token = _TENANT.set(tenant_id)
    try:
        yield tenant_id
    finally:
        _TENANT.reset(token)
