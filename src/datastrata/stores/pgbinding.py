"""What a PostgreSQL transaction carries for its context: tenant, region, namespace, and the pooler's timezone."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from datastrata.core.errors import ConfigurationError
from datastrata.core.tenancy import Bound

#: The poolers a store URL may name with ``?pooler=…``; each is reached in transaction pooling mode.
POOLERS = ("pgbouncer",)
#: Every value inlined into the binding statement matches one of these first (they are never quoted by hand).
_TENANT = re.compile(r"^(\*|[a-z0-9][a-z0-9_-]{0,62})$")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: The setting the policies compare each tenant table's ``tenant_id`` with (``'*'``: the platform, every tenant).
TENANT_SETTING = "datastrata.tenant"
REGION_SETTING = "datastrata.region"
PLATFORM = "*"


def take_option(url: str, name: str) -> tuple[str, str | None]:
    """Return `url` without its query parameter `name` (ours, not libpq's), and the value it gave (the last one)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    named = [v for k, v in query if k == name]
    if not named:
        return url, None
    rest = urlencode([(k, v) for k, v in query if k != name])
    return urlunsplit(parts._replace(query=rest)), named[-1]


def split_pooler(url: str) -> tuple[str, str | None]:
    """Return `url` without its ``pooler`` query parameter, and the pooler it named (``None``: a direct URL)."""
    url, pooler = take_option(url, "pooler")
    if pooler is not None and pooler not in POOLERS:
        raise ConfigurationError(
            f"pooler={pooler!r} in the store URL is not supported; use pooler=pgbouncer (transaction pooling)",
            field="store",
        )
    return url, pooler


def split_pool_size(url: str, default: int) -> tuple[str, int]:
    """Return `url` without its ``pool_size`` query parameter, and the pool size it asks for (else `default`)."""
    url, raw = take_option(url, "pool_size")
    if raw is None:
        return url, default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(
            f"pool_size={raw!r} in the store URL must be a whole number of connections of at least 1 "
            "(e.g. pool_size=16: one per concurrent writer)",
            field="store",
        )
    return url, int(raw)


def _checked(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.match(value):
        raise ConfigurationError(f"{what} {value!r} cannot be bound to a PostgreSQL transaction", field=what)
    return value


def binding_sql(bound: Bound, *, timezone: bool = False) -> str:
    """Return the ``SELECT set_config(…, true), …`` that binds `bound` to one transaction ('' when nothing to bind).

    Every setting is local to the transaction (``is_local = true``), so nothing survives into the next one on the
    same server connection, which matters behind a transaction pooler. The platform binds ``'*'`` for tenant and
    region: the policies of the platform role let it see every tenant, and the application role sees nothing.
    """
    settings: list[tuple[str, str]] = []
    tenant = PLATFORM if bound.platform else bound.tenant
    region = PLATFORM if bound.platform else bound.region
    if tenant is not None:
        settings.append((TENANT_SETTING, _checked(tenant, _TENANT, "tenant_id")))
    if region is not None:
        settings.append((REGION_SETTING, _checked(region, _TENANT, "region")))
    if bound.namespace is not None:
        if bound.namespace.schema is not None:
            settings.append(("search_path", _checked(bound.namespace.schema, _NAME, "schema")))
        if bound.namespace.role is not None:
            settings.append(("role", _checked(bound.namespace.role, _NAME, "role")))
    if timezone:
        settings.append(("TimeZone", "UTC"))
    if not settings:
        return ""
    return "SELECT " + ", ".join(f"set_config('{name}', '{value}', true)" for name, value in settings)
