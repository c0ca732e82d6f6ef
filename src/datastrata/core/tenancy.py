"""The tenant context: every stored fact carries its tenant, and the store binds what this context names."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from datastrata.core.errors import ValidationError

DEFAULT_TENANT = "default"
#: The tenant of the context; ``None`` until a principal, ``--tenant`` or a scope sets one.
_TENANT: ContextVar[str | None] = ContextVar("datastrata_tenant", default=None)
_REGION: ContextVar[str | None] = ContextVar("datastrata_region", default=None)
_PLATFORM: ContextVar[bool] = ContextVar("datastrata_platform", default=False)
_NAMESPACE: ContextVar[Namespace | None] = ContextVar("datastrata_namespace", default=None)
#: What a tenant id is: 1-63 of a-z, 0-9, '_' or '-', starting with a letter or digit (the API's path pattern too).
TENANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_TENANT_RE = re.compile(TENANT_PATTERN)
_REGION_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class Namespace:
    """A dedicated-storage tenant's place in a shared store: its schema (or file) and the role it acts as."""

    schema: str | None = None
    role: str | None = None

    def __post_init__(self) -> None:
        for field, value in (("schema", self.schema), ("role", self.role)):
            if value is not None and not _NAME_RE.match(value):
                raise ValidationError(
                    f"{field} must be 1-63 of a-z, 0-9 or '_', starting with a letter or '_'; got {value!r}",
                    field=field,
                )


@dataclass(frozen=True, slots=True)
class Bound:
    """What a store binds to each transaction of this context (PostgreSQL: ``set_config(…, true)``; SQLite: a guard)."""

    tenant: str | None
    region: str | None
    platform: bool
    namespace: Namespace | None

    @property
    def empty(self) -> bool:
        """True when nothing is bound (a single-tenant store's fast path)."""
        return self.tenant is None and self.region is None and not self.platform and self.namespace is None


def current_tenant() -> str:
    """Return the tenant of the current context (``"default"`` when none was set)."""
    return _TENANT.get() or DEFAULT_TENANT


def tenant_is_set() -> bool:
    """Return whether a tenant was really set in this context (not just defaulted)."""
    return _TENANT.get() is not None


def bound() -> Bound:
    """Return what the store must bind to a transaction opened in this context."""
    return Bound(_TENANT.get(), _REGION.get(), _PLATFORM.get(), _NAMESPACE.get())


def check_tenant_id(tenant_id: str) -> str:
    """Refuse a malformed tenant id."""
    if not isinstance(tenant_id, str) or not _TENANT_RE.match(tenant_id):
        raise ValidationError(
            f"tenant_id must be 1-63 of a-z, 0-9, '_' or '-', starting with a letter or digit; got {tenant_id!r}",
            field="tenant_id",
        )
    return tenant_id


def check_region(region_id: str) -> str:
    """Refuse a malformed region name."""
    if not isinstance(region_id, str) or not (region_id == "*" or _REGION_RE.match(region_id)):
        raise ValidationError(
            f"region must be 1-63 of a-z, 0-9, '_' or '-' (or '*' for every region); got {region_id!r}", field="region"
        )
    return region_id


@contextlib.contextmanager
def tenant(tenant_id: str) -> Iterator[str]:
    """Run the block on behalf of `tenant_id`."""
    check_tenant_id(tenant_id)
    token = _TENANT.set(tenant_id)
    try:
        yield tenant_id
    finally:
        _TENANT.reset(token)


@contextlib.contextmanager
def region(region_id: str | None) -> Iterator[str | None]:
    """Run the block on behalf of a caller in `region_id` (``None``: no region named)."""
    if region_id is not None:
        check_region(region_id)
    token = _REGION.set(region_id)
    try:
        yield region_id
    finally:
        _REGION.reset(token)


@contextlib.contextmanager
def platform() -> Iterator[None]:
    """Run the block as the platform (a follower or job that spans tenants): the store binds no tenant filter."""
    token = _PLATFORM.set(True)
    try:
        yield
    finally:
        _PLATFORM.reset(token)


@contextlib.contextmanager
def namespace(ns: Namespace | None) -> Iterator[Namespace | None]:
    """Run the block inside a dedicated-storage tenant's schema and role (``None``: the shared namespace)."""
    token = _NAMESPACE.set(ns)
    try:
        yield ns
    finally:
        _NAMESPACE.reset(token)
