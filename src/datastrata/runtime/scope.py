"""The scope every command and query runs in: whose data, which context, which aggregate, from where."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from datastrata.core.errors import ValidationError
from datastrata.core.tenancy import DEFAULT_TENANT, check_tenant_id, current_tenant, tenant_is_set

_CONTEXT_RE = re.compile(r"^[a-z][a-z0-9_.]{0,62}$")
#: The longest aggregate key a scope takes.
KEY_MAX = 180


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a fact belongs: its tenant, bounded context, aggregate (or shard) key and the caller's region.

    The stream of an aggregate is ``<context>-<key>``; systems never build stream ids themselves.
    """

    context: str
    key: str | None = None
    tenant: str = DEFAULT_TENANT
    region: str | None = None
    #: False when the tenant was not chosen by anyone (``Scope.of`` with no tenant set): refused once tenants exist.
    explicit: bool = field(default=True, compare=False)
    #: True for a platform job's scope (``Scope.platform``): it reads across tenants and cannot append.
    all_tenants: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.context, str) or not _CONTEXT_RE.match(self.context):
            raise ValidationError(
                f"context must be 1-63 of a-z, 0-9, '_' or '.', starting with a letter; got {self.context!r}",
                field="context",
            )
        check_tenant_id(self.tenant)
        if self.key is not None and (not isinstance(self.key, str) or not 0 < len(self.key) <= KEY_MAX):
            raise ValidationError(f"key must be 1-{KEY_MAX} characters; got {self.key!r}", field="key")

    @classmethod
    def of(cls, context: str, key: str | None = None, *, region: str | None = None) -> Scope:
        """Return a scope of the current tenant (the one the caller's principal or ``--tenant`` set)."""
        return cls(context, key, current_tenant(), region, tenant_is_set())

    @classmethod
    def platform(cls, context: str) -> Scope:
        """Return a scope spanning every tenant (fab aggregation, activation, tiering runs): platform jobs only.

        The runtime allows it only inside the platform context (``Runtime.as_platform``); it cannot append,
        because every effect goes under the tenant of the event or row it comes from.
        """
        return cls(context, None, DEFAULT_TENANT, None, True, True)

    @property
    def stream_id(self) -> str:
        """The event stream of this scope's aggregate: ``<context>-<key>``."""
        if self.key is None:
            raise ValidationError(f"scope of context {self.context!r} names no aggregate key", field="key")
        if self.all_tenants:
            raise ValidationError(
                f"a platform scope of {self.context!r} spans every tenant and has no stream: append in the scope of "
                "the tenant each effect belongs to",
                field="tenant_id",
            )
        return f"{self.context}-{self.key}"

    def at(self, key: str) -> Scope:
        """Return the same tenant, context and region for another aggregate `key`."""
        return replace(self, key=key)

    def within(self, context: str, key: str | None = None) -> Scope:
        """Return the same tenant and region in another context (e.g. ``match.team``)."""
        return replace(self, context=context, key=key)
