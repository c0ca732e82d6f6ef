"""HTTP routes of the master-data system (writes are delivered downstream by the worker; verify delivers first)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from datastrata.api.bodies import ChangeOut, DownstreamOut, RecordOut
from datastrata.api.contract import problems
from datastrata.api.idempotency import EventIdField, KeyHeader
from datastrata.api.jobs import ACCEPTED, start_job
from datastrata.api.pagination import CursorQuery, LimitQuery, Page, cursor_time, keyset_after, keyset_page
from datastrata.core.clock import optional_utc
from datastrata.security.auth import principal_of
from datastrata.systems.masterdata.service import MasterDataService

router = APIRouter(prefix="/masterdata", tags=["masterdata"])

TypePath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="Entity type, e.g. customer")]
KeyPath = Annotated[str, Path(min_length=1, max_length=200, description="Entity key, e.g. C1")]


def _svc(request: Request) -> MasterDataService:
    return cast(MasterDataService, request.app.state.runtime.service("masterdata", MasterDataService))


class _Change(BaseModel):
    """A change's body: the audit actor is the caller's API key, so a body naming one is refused."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_actor(cls, data: Any) -> Any:
        if isinstance(data, dict) and "actor" in data:
            raise ValueError("the audit actor is the id of your API key, not a body field; remove 'actor'")
        return data


class PutIn(_Change):
    """A full attribute set for a valid period."""

    attributes: dict[str, Any] = Field(
        max_length=200, description="Every field valid in the period, e.g. {'name': 'Alice'}"
    )
    valid_from: datetime | None = Field(default=None, description="Start of the valid period; default now")
    valid_to: datetime | None = Field(default=None, description="End of the valid period (exclusive); default open")
    reason: str = Field(default="", max_length=2000, description="Why, for the audit trail")
    change_id: EventIdField = Field(
        default=None, description="Change id, the idempotency key (or send the Idempotency-Key header)"
    )


class RetireIn(_Change):
    """A retirement over a valid period."""

    valid_from: datetime | None = Field(default=None, description="Start of the retirement; default now")
    valid_to: datetime | None = Field(default=None, description="End of the retirement (exclusive); default open")
    reason: str = Field(default="", max_length=2000, description="Why, for the audit trail")
    change_id: EventIdField = Field(
        default=None, description="Change id, the idempotency key (or send the Idempotency-Key header)"
    )


@router.get("/audit")
def get_audit(
    request: Request,
    entity_type: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="Only this type")] = None,
    key: Annotated[str | None, Query(min_length=1, max_length=200, description="Only this entity key")] = None,
    actor: Annotated[str | None, Query(min_length=1, max_length=200, description="Only changes by this actor")] = None,
    since: Annotated[datetime | None, Query(description="Only changes recorded at or after")] = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> Page[dict[str, Any]]:
    """List who changed which record, when, why, before and after; oldest first, a page at a time."""
    last = keyset_after(cursor, "audit", (str, int))
    entries = _svc(request).audit(
        entity_type=entity_type,
        key=key,
        actor=actor,
        since=optional_utc(since, field="since"),
        limit=limit + 1,
        after=None if last is None else (cursor_time(last[0]), last[1]),
    )
    return keyset_page(
        [e.to_dict() for e in entries], kind="audit", limit=limit, key=lambda e: (e["recorded_at"], e["position"])
    )


@router.get("/alerts")
def get_alerts(
    request: Request,
    kind: Annotated[Literal["drift", "dead_letter"] | None, Query(description="drift or dead_letter")] = None,
    key: Annotated[str | None, Query(min_length=1, max_length=200, description="Only alerts about this key")] = None,
    consumer: Annotated[str | None, Query(min_length=1, max_length=200, description="Only this downstream")] = None,
    since: Annotated[datetime | None, Query(description="Only alerts raised at or after")] = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> Page[dict[str, Any]]:
    """List drift and dead-letter alerts of the downstream copies, oldest first, a page at a time."""
    last = keyset_after(cursor, "alerts", (str, str))
    found = _svc(request).alert_list(
        kind=kind,
        key=key,
        consumer=consumer,
        since=optional_utc(since, field="since"),
        limit=limit + 1,
        after=None if last is None else (cursor_time(last[0]), last[1]),
    )
    return keyset_page(
        [a.to_dict() for a in found], kind="alerts", limit=limit, key=lambda a: (a["raised_at"], a["alert_id"])
    )


@router.post("/activate", responses=problems(409), response_model=list[RecordOut])
def post_activate(request: Request) -> list[dict[str, Any]]:
    """Announce future-dated versions that have taken effect."""
    return [r.to_dict() for r in _svc(request).activate()]


@router.post("/verify", status_code=202, responses={**ACCEPTED, **problems(409)})
def post_verify(request: Request) -> JSONResponse:
    """Start delivering waiting events and comparing every copy with the truth (re-syncing drift) as a job.

    Answers 202 with the job; poll ``Location`` (``GET /jobs/{id}``): its result lists the drifts found and fixed.
    """
    svc = _svc(request)

    def work(progress: Callable[[int, int], None]) -> list[dict[str, Any]]:
        return [d.to_dict() for d in svc.verify()]

    return start_job(request.app.state.runtime, "verify", "masterdata", work)


@router.put("/{entity_type}/{key}", responses=problems(404, 409), response_model=ChangeOut)
def put_record(
    entity_type: TypePath, key: KeyPath, body: PutIn, request: Request, idempotency: KeyHeader
) -> dict[str, Any]:
    """Assert a record's full attributes for a valid period."""
    change = _svc(request).put(
        entity_type,
        key,
        body.attributes,
        valid_from=optional_utc(body.valid_from, field="valid_from"),
        valid_to=optional_utc(body.valid_to, field="valid_to"),
        actor=principal_of(request).actor,
        reason=body.reason,
        change_id=idempotency.with_body(body.change_id),
    )
    return change.to_dict()


@router.post("/{entity_type}/{key}/retire", responses=problems(404, 409), response_model=ChangeOut)
def post_retire(
    entity_type: TypePath, key: KeyPath, body: RetireIn, request: Request, idempotency: KeyHeader
) -> dict[str, Any]:
    """Assert that a record is absent over a valid period."""
    change = _svc(request).retire(
        entity_type,
        key,
        valid_from=optional_utc(body.valid_from, field="valid_from"),
        valid_to=optional_utc(body.valid_to, field="valid_to"),
        actor=principal_of(request).actor,
        reason=body.reason,
        change_id=idempotency.with_body(body.change_id),
    )
    return change.to_dict()


@router.get("/{entity_type}/{key}", responses=problems(404), response_model=RecordOut)
def get_record(
    entity_type: TypePath,
    key: KeyPath,
    request: Request,
    as_of: Annotated[datetime | None, Query(description="Valid time to read at; default now")] = None,
    as_known_at: Annotated[datetime | None, Query(description="Read what was recorded by then; default now")] = None,
) -> dict[str, Any]:
    """Return a record now (cached), at a valid time, or as known at a recorded time."""
    record = _svc(request).get(
        entity_type,
        key,
        as_of=optional_utc(as_of, field="as_of"),
        as_known_at=optional_utc(as_known_at, field="as_known_at"),
    )
    return record.to_dict()


@router.get("/{entity_type}/{key}/history", responses=problems(404))
def get_history(
    entity_type: TypePath, key: KeyPath, request: Request, limit: LimitQuery = 100, cursor: CursorQuery = None
) -> Page[dict[str, Any]]:
    """List every version ever recorded for a record, a page at a time."""
    last = keyset_after(cursor, "history", (str, str, str))
    versions = [r.to_dict() for r in _svc(request).history(entity_type, key)]
    if last is not None:
        at = (cursor_time(last[0]), cursor_time(last[1]), last[2])
        versions = [v for v in versions if _history_key(v) > at]
    return keyset_page(
        versions, kind="history", limit=limit, key=lambda v: (v["recorded_from"], v["valid_from"], v["version_id"])
    )


def _history_key(version: dict[str, Any]) -> tuple[datetime, datetime, str]:
    """The order of a record's history: recorded time, valid time, version id."""
    recorded, valid = datetime.fromisoformat(version["recorded_from"]), datetime.fromisoformat(version["valid_from"])
    return recorded, valid, str(version["version_id"])


@router.get("/{entity_type}/{key}/downstream", responses=problems(404), response_model=list[DownstreamOut])
def get_downstream(entity_type: TypePath, key: KeyPath, request: Request) -> list[dict[str, Any]]:
    """Show each downstream system's copy of a record and what it derived."""
    return _svc(request).downstream(entity_type, key)
