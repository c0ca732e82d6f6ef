"""What the store hands back: versions of a record, the outcome of a change, audit entries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from datastrata.mdm.temporal import Period
from datastrata.mdm.types import json_value
from datastrata.runtime.scope import Scope

#: Event types the store appends to the log.
MASTER_DATA_CHANGED = "MasterDataChanged"
MASTER_DATA_ACTIVATED = "MasterDataActivated"


#: The bounded context master records belong to (unless a store is given another): streams ``masterdata-<type>-<key>``.
CONTEXT = "masterdata"


def record_key(entity_type: str, entity_key: str) -> str:
    """Return the aggregate key of one master record within its context: ``<type>-<key>``."""
    return f"{entity_type}-{entity_key}"


def stream_id(entity_type: str, entity_key: str) -> str:
    """Return the event stream of one master record in the default context."""
    return Scope(CONTEXT, record_key(entity_type, entity_key)).stream_id


def iso(value: datetime | None) -> str | None:
    """Return `value` as ISO text (None stays None)."""
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class MasterRecord:
    """One version of a master record: attributes valid over one period of time, as known over another.

    A retirement is stored as a version too (``retired=True``, no attributes): it says the key is absent over its
    valid period, so ``get`` returns None there.
    """

    entity_type: str
    entity_key: str
    attributes: Mapping[str, Any]
    valid_from: datetime
    valid_to: datetime | None
    recorded_from: datetime
    recorded_to: datetime | None
    actor: str
    reason: str
    version_id: str
    change_id: str
    retired: bool = False
    derived_from: str | None = None
    activated_at: datetime | None = None

    @property
    def period(self) -> Period:
        """The valid period."""
        return Period(self.valid_from, self.valid_to)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict (Decimals and times as text)."""
        return {
            "entity_type": self.entity_type,
            "entity_key": self.entity_key,
            "attributes": {name: json_value(value) for name, value in self.attributes.items()},
            "retired": self.retired,
            "valid_from": iso(self.valid_from),
            "valid_to": iso(self.valid_to),
            "recorded_from": iso(self.recorded_from),
            "recorded_to": iso(self.recorded_to),
            "actor": self.actor,
            "reason": self.reason,
            "version_id": self.version_id,
            "change_id": self.change_id,
            "derived_from": self.derived_from,
            "activated_at": iso(self.activated_at),
        }


@dataclass(frozen=True, slots=True)
class Change:
    """The outcome of a put or retire: the version it recorded and where its event sits in the log."""

    change_id: str
    entity_type: str
    entity_key: str
    action: str
    version_id: str
    valid_from: datetime
    valid_to: datetime | None
    recorded_at: datetime
    in_effect: bool
    position: int
    duplicate: bool = False
    log: str | None = None

    @property
    def token(self) -> int:
        """The consistency token: the log position of the change's event; pass it to a query as ``after``."""
        return self.position

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict (``token`` and ``log`` name the change's position and its log)."""
        return {
            "change_id": self.change_id,
            "entity_type": self.entity_type,
            "entity_key": self.entity_key,
            "action": self.action,
            "version_id": self.version_id,
            "valid_from": iso(self.valid_from),
            "valid_to": iso(self.valid_to),
            "recorded_at": iso(self.recorded_at),
            "in_effect": self.in_effect,
            "position": self.position,
            "token": self.token,
            "log": self.log,
            "duplicate": self.duplicate,
        }

    @classmethod
    def replayed(cls, stored: Mapping[str, Any]) -> Change:
        """Return a change from its stored :meth:`to_dict` form, marked as a replay (``duplicate``)."""
        valid_to = stored["valid_to"]
        return cls(
            change_id=str(stored["change_id"]),
            entity_type=str(stored["entity_type"]),
            entity_key=str(stored["entity_key"]),
            action=str(stored["action"]),
            version_id=str(stored["version_id"]),
            valid_from=datetime.fromisoformat(stored["valid_from"]),
            valid_to=None if valid_to is None else datetime.fromisoformat(valid_to),
            recorded_at=datetime.fromisoformat(stored["recorded_at"]),
            in_effect=bool(stored["in_effect"]),
            position=int(stored["position"]),
            duplicate=True,
            log=stored.get("log"),
        )


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who changed which record, why, over which valid period, when, and what it was before and after."""

    change_id: str
    entity_type: str
    entity_key: str
    action: str
    actor: str
    reason: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    replaced: list[dict[str, Any]]
    valid_from: datetime
    valid_to: datetime | None
    recorded_at: datetime
    version_id: str
    position: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict (attributes in their stored JSON form)."""
        return {
            "change_id": self.change_id,
            "entity_type": self.entity_type,
            "entity_key": self.entity_key,
            "action": self.action,
            "actor": self.actor,
            "reason": self.reason,
            "before": None if self.before is None else dict(self.before),
            "after": None if self.after is None else dict(self.after),
            "replaced": self.replaced,
            "valid_from": iso(self.valid_from),
            "valid_to": iso(self.valid_to),
            "recorded_at": iso(self.recorded_at),
            "version_id": self.version_id,
            "position": self.position,
        }
