"""HTTP routes under ``/tenants`` (the platform operator only): the catalogue and each tenant's API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from datastrata.api.contract import problems
from datastrata.api.pagination import DEFAULT_PAGE, CursorQuery, LimitQuery, Page, keyset_after, keyset_page
from datastrata.core.errors import NotFound
from datastrata.core.tenancy import TENANT_PATTERN
from datastrata.runtime import Runtime
from datastrata.security.auth import principal_of
from datastrata.security.keys import key_store
from datastrata.tenancy.catalogue import catalogue_of

router = APIRouter(prefix="/tenants", tags=["tenants"])
#: The path's tenant id, validated by its pattern before any handler runs (one answer for a malformed id: 422).
TenantId = Annotated[str, Path(max_length=63, pattern=TENANT_PATTERN, description="A tenant id, e.g. acme")]


class TenantIn(BaseModel):
    """A tenant to catalogue: its id, tier and (dedicated infrastructure) its own store URL."""

    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(max_length=63, description="a-z, 0-9, '_' or '-'")
    tier: str = Field(max_length=20, description="indie, professional or enterprise")
    store: str | None = Field(default=None, max_length=2000, description="Its own store URL (kept encrypted)")


class TierIn(BaseModel):
    """A tenant's new tier."""

    model_config = ConfigDict(extra="forbid")
    tier: str = Field(max_length=20, description="indie, professional or enterprise")


class KeyIn(BaseModel):
    """An API key to make for a tenant."""

    model_config = ConfigDict(extra="forbid")
    role: str = Field(max_length=10, description="admin, editor or viewer")
    expires_at: datetime | None = None
    note: str = Field(default="", max_length=200)


class TenantOut(BaseModel):
    """A catalogued tenant (no secret: a store URL is shown without its password)."""

    model_config = ConfigDict(extra="allow")
    tenant: str
    tier: str
    model: str
    state: str
    epoch: int
    location: dict[str, Any] | None
    usage: dict[str, Any]


class KeyOut(BaseModel):
    """An API key of a tenant (never its hash; the full key only in the response that created it)."""

    model_config = ConfigDict(extra="allow")
    key_id: str
    tenant: str
    role: str
    note: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    state: str = Field(description="active, revoked or expired")
    key: str | None = Field(default=None, description="The full key: shown in the creating response only")


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.get("", responses=problems(422), response_model=Page[TenantOut])
def list_tenants(request: Request, limit: LimitQuery = DEFAULT_PAGE, cursor: CursorQuery = None) -> Page[Any]:
    """List the catalogued tenants in id order, a page at a time."""
    after = keyset_after(cursor, "tenants", (str,))
    rows = [t.to_dict() for t in catalogue_of(_runtime(request)).list()]
    if after is not None:
        rows = [r for r in rows if r["tenant"] > after[0]]
    return keyset_page(rows[: limit + 1], kind="tenants", limit=limit, key=lambda r: (r["tenant"],))


@router.post("", status_code=201, responses=problems(409, 422), response_model=TenantOut)
def add_tenant(body: TenantIn, request: Request) -> dict[str, Any]:
    """Catalogue a tenant in a tier, provisioning its model's location; audited with the caller's key."""
    actor = principal_of(request).actor
    return catalogue_of(_runtime(request)).add(body.tenant, body.tier, store=body.store, actor=actor).to_dict()


@router.get("/{tenant_id}", responses=problems(404), response_model=TenantOut)
def get_tenant(tenant_id: TenantId, request: Request) -> dict[str, Any]:
    """One tenant: tier (quota, fee, SLA, rate), model, state, epoch, location and usage."""
    return catalogue_of(_runtime(request)).get(tenant_id).to_dict()


@router.put("/{tenant_id}/tier", responses=problems(404, 422), response_model=TenantOut)
def set_tier(tenant_id: TenantId, body: TierIn, request: Request) -> dict[str, Any]:
    """Change a tenant's tier (quota and rate now; its model by a move)."""
    actor = principal_of(request).actor
    return catalogue_of(_runtime(request)).set_tier(tenant_id, body.tier, actor=actor).to_dict()


@router.post("/{tenant_id}/keys", status_code=201, responses=problems(422), response_model=KeyOut)
def create_key(tenant_id: TenantId, body: KeyIn, request: Request) -> JSONResponse:
    """Create an API key bound to the tenant; the key is in this response only."""
    store = key_store(_runtime(request))
    key, text = store.create(role=body.role, tenant=tenant_id, expires_at=body.expires_at, note=body.note)
    return JSONResponse({**key.to_dict(key.created_at), "key": text}, status_code=201)


@router.delete("/{tenant_id}/keys/{key_id}", responses=problems(404, 422), response_model=KeyOut)
def revoke_key(tenant_id: TenantId, key_id: Annotated[str, Path(max_length=20)], request: Request) -> dict[str, Any]:
    """Revoke one of the tenant's API keys at once."""
    store = key_store(_runtime(request))
    if store.get(key_id).tenant != tenant_id:  # a key of another tenant is not found under this one
        raise NotFound(f"no API key {key_id!r} of tenant {tenant_id!r}; GET /tenants/{tenant_id} names the tenant")
    return store.revoke(key_id).to_dict(store.clock())
