"""HTTP routes of the wafer fab: sensors, batches of readings, alerts, one query over all tiers, reports, tiers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from datastrata.api.contract import problems
from datastrata.api.idempotency import EventIdField, KeyHeader
from datastrata.core.errors import ValidationError
from datastrata.security.auth import principal_of
from datastrata.systems.fab.domain import MAX_BATCH, MAX_REGISTER, MAX_VALUE, Reading
from datastrata.systems.fab.service import FabService

router = APIRouter(tags=["fab"])

SensorId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="Sensor id, e.g. temperature-0001")]
SensorPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="Sensor id")]


def _svc(request: Request) -> FabService:
    return cast(FabService, request.app.state.runtime.service("fab", FabService))


class SensorIn(BaseModel):
    """A sensor to register."""

    sensor_id: SensorId
    kind: Literal["temperature", "pressure", "vibration"]


class SensorsIn(BaseModel):
    """Sensors to register (a known id keeps its kind)."""

    sensors: list[SensorIn] = Field(min_length=1, max_length=MAX_REGISTER)
    event_id: EventIdField = Field(default=None, description="Idempotency key (or send the Idempotency-Key header)")


class ReadingIn(BaseModel):
    """One reading."""

    sensor_id: SensorId
    at: datetime = Field(description="Reading time, ISO-8601 with offset; at most 15 minutes late, 1 minute ahead")
    value: float = Field(ge=-MAX_VALUE, le=MAX_VALUE, allow_inf_nan=False)


class BatchIn(BaseModel):
    """A batch of readings, stored with its alerts in one transaction."""

    readings: list[ReadingIn] = Field(min_length=1, max_length=MAX_BATCH)
    event_id: EventIdField = Field(default=None, description="The batch id (or send the Idempotency-Key header)")


class RegisteredOut(BaseModel):
    """How many sensors were new."""

    registered: int


class SensorOut(BaseModel):
    """A registered sensor."""

    sensor_id: str
    kind: str
    alarm: bool


class IngestedOut(BaseModel):
    """A stored batch."""

    batch_id: str
    readings: int
    alerts: int
    duplicate: bool = Field(description="True when this is the stored result of an earlier request with the key")
    alert_latency_max_s: float | None = Field(description="Longest reading time → alert committed, in seconds")


class AlertOut(BaseModel):
    """A threshold alert (an event of the stream fab-alerts)."""

    version: int
    sensor_id: str
    kind: str
    value: float
    bound: str
    limit: float
    reading_at: str
    recorded_at: str
    event_id: str


class QueryOut(BaseModel):
    """One sensor's readings (or per-minute aggregates) over every tier."""

    sensor_id: str
    from_: str = Field(alias="from")
    to: str
    agg: str | None
    rows: list[dict[str, Any]]


class KindReportOut(BaseModel):
    """A report's figures for one sensor kind."""

    kind: str
    sensors: int
    minutes: int
    readings: int
    min: float
    max: float
    avg: float
    alerts: int


class ReportOut(BaseModel):
    """A daily or weekly report from the 1-minute aggregates."""

    period: str
    from_: str = Field(alias="from")
    to: str
    kinds: list[KindReportOut]
    alerts: int


class TieringOut(BaseModel):
    """Rows, bytes and items per dataset and tier, and the moves made."""

    at: str
    tiers: dict[str, dict[str, dict[str, int]]]
    moves: dict[str, int]
    last_move: str | None


@router.post("/fab/sensors", status_code=201, responses=problems(409))
def post_sensors(body: SensorsIn, request: Request, key: KeyHeader) -> RegisteredOut:
    """Register sensors."""
    pairs = [(s.sensor_id, s.kind) for s in body.sensors]
    return RegisteredOut(registered=_svc(request).register_sensors(pairs, key=key.with_body(body.event_id)))


@router.get("/fab/sensors")
def get_sensors(request: Request) -> list[SensorOut]:
    """The registered sensors."""
    return [SensorOut(**s) for s in _svc(request).sensors()]


@router.post("/fab/batches", status_code=201, responses=problems(409))
def post_batch(body: BatchIn, request: Request, key: KeyHeader) -> IngestedOut:
    """Store a batch of readings; readings over their threshold raise alerts in the same transaction."""
    batch_id = key.with_body(body.event_id)
    if batch_id is None:
        raise ValidationError(
            "a batch needs its id: send the Idempotency-Key header (or event_id) so a retry is never stored twice",
            field="Idempotency-Key",
        )
    readings = [Reading(r.sensor_id, r.at, r.value) for r in body.readings]
    return IngestedOut(**_svc(request).ingest(batch_id, readings).to_dict())


@router.get("/fab/alerts")
def get_alerts(
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**62, description="Only alerts after this version")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AlertOut]:
    """Threshold alerts, oldest first."""
    return [AlertOut(**a) for a in _svc(request).alerts(after_version=after, limit=limit)]


@router.get("/fab/sensors/{sensor_id}/readings", responses=problems(422))
def get_readings(
    sensor_id: SensorPath,
    request: Request,
    start: Annotated[datetime, Query(alias="from", description="Start, inclusive (ISO-8601 with offset)")],
    end: Annotated[datetime, Query(alias="to", description="End, exclusive")],
    agg: Annotated[Literal["1m"] | None, Query(description="1m: per-minute min/max/avg/count")] = None,
) -> QueryOut:
    """One sensor's readings over hot, warm and cold tiers, as if all were hot."""
    found = _svc(request).reports.query(sensor_id, start, end, agg=agg, actor=principal_of(request).actor)
    return QueryOut(**found)


@router.get("/fab/reports/{period}")
def get_report(
    period: Literal["daily", "weekly"],
    request: Request,
    day: Annotated[date | None, Query(description="A day in the period; default the last complete one")] = None,
) -> ReportOut:
    """The daily or weekly report per sensor kind."""
    reports = _svc(request).reports
    actor = principal_of(request).actor
    found = reports.daily(day, actor=actor) if period == "daily" else reports.weekly(day, actor=actor)
    return ReportOut(**found)


@router.get("/fab/tiering")
def get_tiering(request: Request) -> TieringOut:
    """Where the fab's data lives now."""
    return TieringOut(**_svc(request).tiers.status())
