"""HTTP routes of the ML pipeline: feature views, online values, training sets, models, inference capture."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from datastrata.api.bodies import CommandOut
from datastrata.api.contract import problems
from datastrata.api.idempotency import EventIdField, KeyHeader
from datastrata.api.jobs import ACCEPTED, start_job
from datastrata.core.errors import ValidationError
from datastrata.systems.mlops.service import ARCHIVE, MATERIALIZE, MlopsService
from datastrata.writes.commands import CommandResult

router = APIRouter(prefix="/mlops", tags=["mlops"])

_NAME = r"^[a-z][a-z0-9_]{0,62}$"
_MODEL = r"^[a-z][a-z0-9_-]{0,62}$"
ViewPath = Annotated[str, Path(pattern=_NAME, description="Feature view name")]
ModelPath = Annotated[str, Path(pattern=_MODEL, description="Model name")]
VersionPath = Annotated[int, Path(ge=1, le=2**31, description="Version number")]
Scalar = float | int | str | bool | None
#: Most rows one HTTP request carries (bodies are at most 1 MiB anyway; bulk goes through the CLI or the library).
MAX_HTTP_ROWS = 10_000


def _svc(request: Request) -> MlopsService:
    return cast(MlopsService, request.app.state.runtime.service("mlops", MlopsService))


def _out(result: CommandResult) -> CommandOut:
    return CommandOut(**result.to_dict())


class ViewIn(BaseModel):
    """A feature view's definition."""

    name: str = Field(pattern=_NAME)
    entity: str = Field(pattern=_NAME, description="The entity key column, e.g. customer_id")
    features: dict[str, str] = Field(description="Feature name → int64, float64, string or bool", max_length=100)
    ttl: str | None = Field(default=None, max_length=10, description="Values older than this are not used, e.g. 30d")
    event_id: EventIdField = None


class ViewOut(BaseModel):
    """A feature view."""

    name: str
    entity: str
    features: dict[str, str]
    ttl: str | None


class ValuesIn(BaseModel):
    """Feature values: each row has the entity id, ``event_time`` (ISO-8601 with offset) and features."""

    rows: list[dict[str, Scalar]] = Field(min_length=1, max_length=MAX_HTTP_ROWS)
    event_id: EventIdField = None


class OnlineOut(BaseModel):
    """An entity's latest materialised values (``status`` found, missing or expired)."""

    entity_id: str
    status: str
    event_time: str | None
    features: dict[str, Any] | None


class TrainingSetIn(BaseModel):
    """Labels (entity ids, ``label_time``, ``label``) to join with views as of each label's time."""

    views: list[str] = Field(min_length=1, max_length=20)
    labels: list[dict[str, Scalar]] = Field(min_length=1, max_length=MAX_HTTP_ROWS)
    save_as: str | None = Field(default=None, pattern=_NAME, description="Keep it by name (a drift baseline)")
    event_id: EventIdField = None


class TrainingSetOut(BaseModel):
    """A point-in-time correct training set: one row per label, in label order."""

    columns: list[str]
    rows: list[dict[str, Any]]


class ModelIn(BaseModel):
    """A new model version: the artifact's bytes in base64 (HTTP bodies are at most 1 MiB; use the CLI for more)."""

    artifact_base64: str = Field(min_length=4, max_length=1_400_000)
    metrics: dict[str, float] = Field(default_factory=dict, max_length=50)
    event_id: EventIdField = None


class StageIn(BaseModel):
    """A lifecycle move."""

    stage: str = Field(pattern=r"^(approved|rejected|archived)$")
    event_id: EventIdField = None


class AliasIn(BaseModel):
    """Where an alias points."""

    version: int = Field(ge=1, le=2**31)
    event_id: EventIdField = None


class VersionOut(BaseModel):
    """A model version."""

    model: str
    version: int
    artifact: str
    sha256: str
    bytes: int
    stage: str
    metrics: dict[str, float]
    registered_at: str
    stage_changed_at: str
    aliases: list[str]


class PlacementOut(BaseModel):
    """Where a version's artifact is kept and whether it is readable now."""

    model: str
    version: int
    stage: str
    aliases: list[str]
    storage_class: str
    tier: str
    readable: bool
    restore: dict[str, str] | None


class RestoreIn(BaseModel):
    """A restore request."""

    tier: str = Field(default="standard", pattern=r"^(expedited|standard|bulk)$")
    days: int = Field(default=7, ge=1, le=365)
    event_id: EventIdField = None


class RestoreOut(BaseModel):
    """A restore request: its job, state (restoring, ready, expired), ETA and expiry."""

    model: str
    version: int
    job: str
    location: str = Field(description="Where to poll its job: /jobs/{id}")
    tier: str
    days: int
    state: str
    completed: bool = Field(description="True once RestoreCompleted was appended")
    requested_at: str
    ready_at: str
    expires_at: str


class CaptureIn(BaseModel):
    """A batch of inference: input rows (name → number, text or bool) and one prediction per row."""

    version: str = Field(pattern=r"^([1-9][0-9]{0,9}|[a-z][a-z0-9_]{0,62})$", description="Number or alias")
    inputs: list[dict[str, float | str | bool | None]] = Field(min_length=1, max_length=MAX_HTTP_ROWS)
    predictions: list[float] = Field(min_length=1, max_length=MAX_HTTP_ROWS)
    at: datetime | None = None
    event_id: EventIdField = None


class DriftOut(BaseModel):
    """A drift check: the population stability index of one feature (< 0.1 stable, > 0.25 drift)."""

    model: str
    feature: str
    baseline: str
    psi: float
    verdict: str
    baseline_rows: int
    captured_rows: int
    bin_edges: list[float]


@router.post("/feature-views", status_code=201, responses=problems(409))
def post_view(body: ViewIn, request: Request, key: KeyHeader) -> CommandOut:
    """Define a feature view (defining it again identically changes nothing)."""
    svc = _svc(request)
    return _out(
        svc.features.define(body.name, body.entity, body.features, ttl=body.ttl, key=key.with_body(body.event_id))
    )


@router.get("/feature-views")
def get_views(request: Request) -> list[ViewOut]:
    """Every feature view."""
    return [ViewOut(**v.to_dict()) for v in _svc(request).features.views()]


@router.post("/feature-views/{view}/values", status_code=201, responses=problems(404, 409))
def post_values(view: ViewPath, body: ValuesIn, request: Request, key: KeyHeader) -> CommandOut:
    """Append feature values to the view's offline history (zstd Parquet, a part per day)."""
    return _out(_svc(request).features.ingest(view, body.rows, key=key.with_body(body.event_id)))


@router.get("/feature-views/{view}/online", responses=problems(404))
def get_online(
    view: ViewPath,
    request: Request,
    entity: Annotated[list[str], Query(min_length=1, max_length=100, description="Entity ids")],
) -> list[OnlineOut]:
    """The latest materialised values of entities (as served at inference)."""
    svc = _svc(request)
    found = svc.features.online(view, entity)
    name = svc.features.view(view).entity
    return [
        OnlineOut(entity_id=r[name], status=r["status"], event_time=r["event_time"], features=r["features"])
        for r in found
    ]


@router.post("/materializations", status_code=202, responses={**ACCEPTED, **problems(404)})
def post_materialize(
    request: Request, view: Annotated[str | None, Query(pattern=_NAME, description="One view (default: all)")] = None
) -> JSONResponse:
    """Copy new offline values to the online store, as a background job (poll ``Location``)."""
    svc = _svc(request)
    return start_job(request.app.state.runtime, MATERIALIZE, view or "*", svc.materialize_work(view))


@router.post("/training-sets", responses=problems(404, 409))
def post_training_set(body: TrainingSetIn, request: Request, key: KeyHeader) -> TrainingSetOut:
    """Join each label with the views' values as of its own time (point-in-time correct: no leakage)."""
    table = _svc(request).features.training_set(
        body.views, body.labels, save_as=body.save_as, key=key.with_body(body.event_id)
    )
    rows = [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()} for r in table.to_pylist()]
    return TrainingSetOut(columns=table.column_names, rows=rows)


@router.post("/models/{model}/versions", status_code=201, responses=problems(409))
def post_version(model: ModelPath, body: ModelIn, request: Request, key: KeyHeader) -> CommandOut:
    """Register a new version (pending approval); the artifact goes to the object store."""
    try:
        artifact = base64.b64decode(body.artifact_base64, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("artifact_base64 must be base64 text", field="artifact_base64") from None
    return _out(_svc(request).models.register(model, artifact, metrics=body.metrics, key=key.with_body(body.event_id)))


@router.get("/models")
def get_models(request: Request) -> list[VersionOut]:
    """Every model version."""
    return [VersionOut(**v.to_dict()) for v in _svc(request).models.versions()]


@router.get("/models/{model}/versions", responses=problems(404))
def get_versions(model: ModelPath, request: Request) -> list[VersionOut]:
    """A model's versions."""
    return [VersionOut(**v.to_dict()) for v in _svc(request).models.versions(model)]


@router.post("/models/{model}/versions/{version}/stage", responses=problems(404, 409))
def post_stage(model: ModelPath, version: VersionPath, body: StageIn, request: Request, key: KeyHeader) -> CommandOut:
    """Move a version along its lifecycle (pending → approved | rejected → archived)."""
    return _out(_svc(request).models.set_stage(model, version, body.stage, key=key.with_body(body.event_id)))


@router.put("/models/{model}/aliases/{alias}", responses=problems(404, 409))
def put_alias(
    model: ModelPath, alias: Annotated[str, Path(pattern=_NAME)], body: AliasIn, request: Request, key: KeyHeader
) -> CommandOut:
    """Point an alias (e.g. champion) at an approved version."""
    return _out(_svc(request).models.move_alias(model, alias, body.version, key=key.with_body(body.event_id)))


@router.get("/models/{model}/archive-status", responses=problems(404))
def get_archive_status(model: ModelPath, request: Request) -> list[PlacementOut]:
    """Where each version's artifact is and whether it is readable now."""
    return [PlacementOut(**p) for p in _svc(request).models.archive_status(model)]


@router.post(
    "/models/{model}/versions/{version}/restore",
    status_code=202,
    response_model=RestoreOut,
    responses=problems(404, 409),
)
def post_restore(
    model: ModelPath, version: VersionPath, body: RestoreIn, request: Request, key: KeyHeader
) -> JSONResponse:
    """Ask for a frozen artifact back: 202 with the restore job and its ETA (``Location``: the job)."""
    found = _svc(request).models.restore(
        model, version, tier=body.tier, days=body.days, key=key.with_body(body.event_id)
    )
    out = RestoreOut(**{k: found[k] for k in RestoreOut.model_fields})
    return JSONResponse(out.model_dump(), status_code=202, headers={"Location": str(found["location"])})


@router.post("/archive", status_code=202, responses={**ACCEPTED, **problems()})
def post_archive(request: Request) -> JSONResponse:
    """Run the pipeline's tiering policy (old unapproved models to the archive class) as a background job."""
    return start_job(request.app.state.runtime, ARCHIVE, "mlops", _svc(request).archive_work())


@router.post("/inference/{model}/batches", status_code=201, responses=problems(404, 409))
def post_capture(model: ModelPath, body: CaptureIn, request: Request, key: KeyHeader) -> CommandOut:
    """Capture a batch of inference inputs and predictions to the cold tier (Parquet)."""
    version: int | str = int(body.version) if body.version.isdigit() else body.version
    result = _svc(request).inference.capture(
        model, version, body.inputs, body.predictions, at=body.at, key=key.with_body(body.event_id)
    )
    return _out(result)


@router.get("/inference/{model}/drift", responses=problems(404))
def get_drift(
    model: ModelPath,
    request: Request,
    feature: Annotated[str, Query(pattern=_NAME)],
    baseline: Annotated[str, Query(pattern=_NAME, description="A saved training set")],
    since: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")] = None,
    until: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")] = None,
) -> DriftOut:
    """The population stability index of a feature: captured inputs against a saved training set."""
    return DriftOut(**_svc(request).inference.drift(model, feature, baseline=baseline, since=since, until=until))
