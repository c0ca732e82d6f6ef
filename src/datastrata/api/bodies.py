"""Response bodies of the routes that return plain dicts, so /openapi.json describes every success body.

Each model names the fields a client can rely on; ``extra="allow"`` keeps a body valid when a route adds a field.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    """A response body: the declared fields, and any a route adds."""

    model_config = ConfigDict(extra="allow")


class FollowerStatusOut(Body):
    """One follower (relay or projection): its state and how far behind the log it is."""

    name: str
    state: str


class HealthOut(Body):
    """The process's health: overall status, named checks and every follower."""

    status: str
    checks: dict[str, Any]
    followers: list[FollowerStatusOut]


class DeadLetterOut(Body):
    """An event a follower could not apply, and what was done about it."""

    id: int
    follower: str
    status: str


class ProjectionLagOut(Body):
    """A read model's checkpoint, the log's head and how far behind it is."""

    name: str
    position: int
    head: int
    behind: int


class RestaurantOut(Body):
    """A restaurant with its cuisines and menu."""

    restaurant_id: str
    name: str
    address: str
    lat: float
    lon: float
    cuisines: list[str]
    sponsored: bool
    menu: list[dict[str, Any]]


class OrderOut(Body):
    """A placed order: who, where, when, its lines and total (and the consistency token when just placed)."""

    order_id: str
    user_id: str
    restaurant_id: str
    at: str
    rating: int | None
    items: list[dict[str, Any]]
    total: str


class CuisinesOut(Body):
    """A user's favourite cuisines, those nearby and related ones."""

    user_id: str
    favourites: list[Any]
    nearby: list[Any]
    related: list[Any]


class SeedOut(Body):
    """What a synthetic dataset load recorded, and the consistency token to read after."""

    users: int
    restaurants: int
    menu_items: int
    orders: int
    orders_already_recorded: int
    token: int


class GraphRebuildOut(Body):
    """A rebuilt graph projection: events applied and its new position."""

    projection: str
    applied: int
    position: int


class TvOut(Body):
    """The last display lines of a match, latest first, and how fresh the read model is."""

    match_id: str
    events: list[dict[str, Any]]
    cached: bool


class AnalyticsOut(Body):
    """Per-player and per-team figures for one match, or across every match."""

    match_id: str | None
    players: list[dict[str, Any]]
    teams: list[dict[str, Any]]


class MatchLagOut(ProjectionLagOut):
    """A match read model's lag, with the read model's short name."""

    projection: str


class SimulateOut(Body):
    """Matches played through the command side, commands per kind, and the consistency token."""

    matches: list[str]
    commands: dict[str, int]
    registered: int
    token: int


class ChangeOut(Body):
    """A recorded master-data change: the version it made, its valid period and its log position."""

    change_id: str
    entity_type: str
    entity_key: str
    action: str
    version_id: str
    valid_from: str
    valid_to: str | None
    recorded_at: str
    in_effect: bool
    position: int
    duplicate: bool


class RecordOut(Body):
    """A master-data record version: its attributes, valid and recorded periods, and who made it."""

    entity_type: str
    entity_key: str
    attributes: dict[str, Any]
    retired: bool
    valid_from: str
    valid_to: str | None
    version_id: str


class DownstreamOut(Body):
    """What one downstream system holds for a record: its copy (None before the first sync) and what it derived."""

    consumer: str
    copy_: dict[str, Any] | None = Field(alias="copy")
    derived: Any


class EventOut(Body):
    """One event a command appended."""

    type: str
    position: int
    version: int
    payload: dict[str, Any]


class CommandOut(Body):
    """A recorded command: its stream, its events and the consistency token (with the log it belongs to)."""

    command: str
    stream_id: str
    token: int
    log: str
    duplicate: bool = Field(description="True when this is the stored result of an earlier request with the key")
    events: list[EventOut]
