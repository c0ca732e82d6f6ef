"""HTTP routes of the content platform: a studio's items, views, reviews, grants and cost, under ``/content``.

The caller's studio is the API key's tenant; its region is the ``X-Datastrata-Region`` header (an item restricted to
other regions answers 404). Another studio's item is reached only through a grant (``/content/shared/…``).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from datastrata.api.bodies import CommandOut
from datastrata.api.contract import problems
from datastrata.api.idempotency import EventIdField, KeyHeader
from datastrata.api.jobs import ACCEPTED, JobOut, start_job
from datastrata.core.errors import Forbidden, ValidationError
from datastrata.core.tenancy import DEFAULT_TENANT
from datastrata.security.auth import principal_of
from datastrata.systems.content.lifecycle import LIFECYCLE
from datastrata.systems.content.service import ContentService
from datastrata.tenancy.grants import PERMISSIONS
from datastrata.writes.commands import CommandResult

router = APIRouter(prefix="/content", tags=["content"])

_ID = r"^[a-z0-9][a-z0-9_-]{0,99}$"
_TENANT = r"^[a-z0-9][a-z0-9_-]{0,62}$"
ItemPath = Annotated[str, Path(pattern=_ID, description="Item id")]
OwnerPath = Annotated[str, Path(pattern=_TENANT, description="The studio that owns the item")]
RegionHeader = Annotated[
    str | None,
    Header(alias="X-Datastrata-Region", pattern=_TENANT, description="The caller's region (e.g. asia)"),
]
#: Largest footage one HTTP upload carries (base64 in a JSON body of at most a few MiB; masters go by the library).
MAX_HTTP_FOOTAGE = 4 * 1024 * 1024


def _svc(request: Request) -> ContentService:
    return cast(ContentService, request.app.state.runtime.service("content", ContentService))


def _out(result: CommandResult) -> CommandOut:
    return CommandOut(**result.to_dict())


def _bytes(text: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("footage must be base64", field="footage") from None
    if not 1 <= len(data) <= MAX_HTTP_FOOTAGE:
        raise ValidationError(f"footage must be 1 byte to {MAX_HTTP_FOOTAGE // 2**20} MiB over HTTP", field="footage")
    return data


class UploadIn(BaseModel):
    """A new item in production with its footage (base64)."""

    item_id: str = Field(pattern=_ID)
    title: str = Field(min_length=1, max_length=200)
    footage: str = Field(min_length=1, max_length=MAX_HTTP_FOOTAGE * 2, description="base64")
    budget: str = Field(default="0", pattern=r"^[0-9]{1,14}(\.[0-9]{1,2})?$", description="Dollars")
    expected_views: int = Field(default=0, ge=0, le=10**15)
    regions: list[str] | None = Field(default=None, max_length=50, description="Visible only there (none: everywhere)")
    event_id: EventIdField = None


class StepIn(BaseModel):
    """A lifecycle step (the command is in the path)."""

    event_id: EventIdField = None


class ViewsIn(BaseModel):
    """An hour's views per region."""

    hour: datetime
    views: dict[str, int] = Field(min_length=1, max_length=300)
    event_id: EventIdField = None


class FootageIn(BaseModel):
    """A new footage version (base64)."""

    footage: str = Field(min_length=1, max_length=MAX_HTTP_FOOTAGE * 2)
    event_id: EventIdField = None


class GrantIn(BaseModel):
    """A grant to another studio on one item."""

    grantee: str = Field(pattern=_TENANT)
    permission: str = Field(pattern="^(" + "|".join(PERMISSIONS) + ")$")
    expires_at: datetime


class RenditionOut(BaseModel):
    """A rendition a published item is offered in."""

    resolution: str
    bitrate: str
    target: str


class ItemOut(BaseModel):
    """A content item."""

    item_id: str
    title: str
    stage: str
    budget: str
    expected_views: int
    placement: str
    storage_class: str
    replication: str
    regions: list[str]
    object_key: str
    bytes: int
    sha256: str
    footage_version: int
    viral: bool
    pending_stage: str | None
    restore_ready_at: str | None
    stage_changed_at: str
    renditions: list[RenditionOut] | None = None


class StatusOut(BaseModel):
    """An item's status as a ``status:read`` grant shows it."""

    item_id: str
    title: str
    stage: str
    pending_stage: str | None
    footage_version: int
    stage_changed_at: str


class FootageOut(BaseModel):
    """Footage read through a grant."""

    item_id: str
    owner: str
    footage: str = Field(description="base64")


class ReviewOut(BaseModel):
    """A tier review flagged by a viral item."""

    review_id: str
    item_id: str
    state: str
    from_: str = Field(alias="from")
    to: str
    metrics: dict[str, Any]
    created_at: str
    move: dict[str, Any] | None


class StorageOut(BaseModel):
    """The month's storage of one class."""

    objects: int
    bytes: int
    usd: str


class RecommendationOut(BaseModel):
    """What the cost analysis suggests for one item."""

    item_id: str
    action: str
    views_per_day: str
    current_usd: str
    change_usd: str


class CostOut(BaseModel):
    """A studio's monthly cost."""

    tenant: str
    tier: str
    model: str
    currency: str
    tier_fee: str
    storage: dict[str, StorageOut]
    storage_usd: str
    monthly_usd: str
    recommendations: list[RecommendationOut]
    potential_saving_usd: str
    upgrade_cost_usd: str


class GrantOut(BaseModel):
    """A grant on one item."""

    id: str
    owner: str
    grantee: str
    item: str
    permission: str
    expires_at: str
    created_at: str
    revoked_at: str | None
    state: str


class AuditOut(BaseModel):
    """One audited act on a grant."""

    grant_id: str
    owner: str
    grantee: str
    action: str
    actor: str
    detail: dict[str, Any]
    at: str


class GrantsOut(BaseModel):
    """The grants a studio gave or was given, and their audit trail."""

    grants: list[GrantOut]
    audit: list[AuditOut]


@router.post("/items", status_code=201, responses=problems(409))
def post_item(body: UploadIn, request: Request, key: KeyHeader, region: RegionHeader = None) -> CommandOut:
    """Register an item in production, placed by its budget and expected views."""
    return _out(
        _svc(request).upload(
            body.item_id,
            body.title,
            _bytes(body.footage),
            budget=body.budget,
            expected_views=body.expected_views,
            regions=body.regions,
            caller_region=region,
            key=key.with_body(body.event_id),
        )
    )


@router.get("/items")
def get_items(request: Request, region: RegionHeader = None) -> list[ItemOut]:
    """The studio's items the caller's region may see."""
    return [ItemOut(**i.to_dict()) for i in _svc(request).items(caller_region=region)]


@router.get("/items/{item_id}", responses=problems(404))
def get_item(item_id: ItemPath, request: Request, region: RegionHeader = None) -> ItemOut:
    """One item with its renditions."""
    svc = _svc(request)
    data = svc.item(item_id, caller_region=region).to_dict()
    data["renditions"] = svc.renditions(item_id, caller_region=region)
    return ItemOut(**data)


@router.post("/items/{item_id}/views", responses=problems(404, 409))
def post_views(
    item_id: ItemPath, body: ViewsIn, request: Request, key: KeyHeader, region: RegionHeader = None
) -> CommandOut:
    """Record an hour's views per region (a viral hour upgrades the item and flags a tier review)."""
    svc = _svc(request)
    return _out(
        svc.record_views(item_id, body.hour, body.views, caller_region=region, key=key.with_body(body.event_id))
    )


@router.get("/reviews")
def get_reviews(request: Request) -> list[ReviewOut]:
    """The studio's tier reviews."""
    return [ReviewOut(**r) for r in _svc(request).reviews()]


ReviewPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_T-]{0,150}$", description="Review id")]


class AcceptOut(CommandOut):
    """An accepted tier review: the recorded command and the job moving the studio (None: a replayed request)."""

    job: JobOut | None


@router.post(
    "/reviews/{review_id}/accept",
    status_code=202,
    responses={
        202: {"model": AcceptOut, "description": "Accepted; the move runs as a job: poll the `Location` header"},
        200: {"model": AcceptOut, "description": "The stored result of an earlier request with the key"},
        **problems(403, 404, 409),
    },
)
def post_accept(review_id: ReviewPath, body: StepIn, request: Request, key: KeyHeader) -> JSONResponse:
    """Accept a tier review (an admin of the studio): its tier changes and its live move to the next model starts."""
    principal = principal_of(request)
    if not principal.holds("admin"):
        raise Forbidden(
            f"accepting a tier review changes the studio's tier and moves its data: it needs the admin role; API key "
            f"{principal.key_id} is {principal.role}; ask the studio's admin (`datastrata tenants keys create "
            f"{principal.tenant} --role admin`)"
        )
    accepted = _svc(request).accept_review(review_id, actor=principal.actor, key=key.with_body(body.event_id))
    data = AcceptOut(**accepted.to_dict()).model_dump(mode="json")
    if accepted.job is None:
        return JSONResponse(data, status_code=200)
    return JSONResponse(data, status_code=202, headers={"Location": f"/jobs/{accepted.job.id}"})


@router.post("/reviews/{review_id}/decline", responses=problems(404, 409))
def post_decline(review_id: ReviewPath, body: StepIn, request: Request, key: KeyHeader) -> CommandOut:
    """Decline a tier review (the studio stays in its tier and model)."""
    return _out(_svc(request).decline_review(review_id, key=key.with_body(body.event_id)))


@router.get("/cost")
def get_cost(request: Request) -> CostOut:
    """The studio's monthly cost and the optimisation's recommendations."""
    return CostOut(**_svc(request).cost().to_dict())


@router.post("/lifecycle", status_code=202, responses={**ACCEPTED})
def post_lifecycle(request: Request) -> JSONResponse:
    """Run every stage's storage policy now, as a background job (poll ``Location``)."""
    svc = _svc(request)
    if svc.scope().tenant != DEFAULT_TENANT:
        raise ValidationError("the lifecycle spans every studio: only the platform operator runs it", field="tenant")
    return start_job(request.app.state.runtime, LIFECYCLE, "content", lambda report: svc.lifecycle.run())


@router.post("/items/{item_id}/grants", status_code=201, responses=problems(404))
def post_grant(item_id: ItemPath, body: GrantIn, request: Request) -> GrantOut:
    """Grant another studio one permission on this item until an expiry."""
    svc = _svc(request)
    return GrantOut(**svc.grant(body.grantee, item_id, body.permission, body.expires_at).to_dict(svc.clock()))


@router.get("/grants")
def get_grants(request: Request) -> GrantsOut:
    """Grants the studio gave or was given, and their audit trail."""
    svc = _svc(request)
    me = svc.scope().tenant
    return GrantsOut(
        grants=[GrantOut(**g.to_dict(svc.clock())) for g in svc.grants.list_for(me)],
        audit=[AuditOut(**a) for a in svc.grants.audit(me)],
    )


@router.delete("/grants/{grant_id}", responses=problems(404))
def delete_grant(grant_id: Annotated[str, Path(pattern=r"^[0-9a-f]{24}$")], request: Request) -> GrantOut:
    """Revoke a grant the studio gave."""
    svc = _svc(request)
    return GrantOut(**svc.revoke(grant_id).to_dict(svc.clock()))


@router.get("/shared/{owner}/{item_id}/status", responses=problems(404))
def get_shared_status(owner: OwnerPath, item_id: ItemPath, request: Request, region: RegionHeader = None) -> StatusOut:
    """Another studio's item status, through a grant (404 without one)."""
    return StatusOut(**_svc(request).granted_status(owner, item_id, caller_region=region))


@router.get("/shared/{owner}/{item_id}/footage", responses=problems(404, 409))
def get_shared_footage(
    owner: OwnerPath, item_id: ItemPath, request: Request, region: RegionHeader = None
) -> FootageOut:
    """Another studio's footage (base64), through a ``footage:read`` grant."""
    data = _svc(request).granted_footage(owner, item_id, caller_region=region)
    return FootageOut(item_id=item_id, owner=owner, footage=base64.b64encode(data).decode())


@router.put("/shared/{owner}/{item_id}/footage", responses=problems(404, 409))
def put_shared_footage(
    owner: OwnerPath, item_id: ItemPath, body: FootageIn, request: Request, key: KeyHeader, region: RegionHeader = None
) -> CommandOut:
    """Store a new footage version of another studio's item, through a ``footage:write`` grant."""
    svc = _svc(request)
    data = _bytes(body.footage)
    return _out(
        svc.granted_replace_footage(owner, item_id, data, caller_region=region, key=key.with_body(body.event_id))
    )


@router.post("/items/{item_id}/{step}", responses=problems(404, 409))
def post_step(
    item_id: ItemPath,
    step: Annotated[str, Path(pattern=r"^(publish|archive|republish)$")],
    body: StepIn,
    request: Request,
    key: KeyHeader,
    region: RegionHeader = None,
) -> CommandOut:
    """Publish, archive or republish an item."""
    svc = _svc(request)
    run = {"publish": svc.publish, "archive": svc.archive, "republish": svc.republish}[step]
    return _out(run(item_id, caller_region=region, key=key.with_body(body.event_id)))
