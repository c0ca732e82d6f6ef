"""The ML pipeline's rules, pure: feature views, feature values, model stages and aliases, drift (PSI)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from datastrata.core.errors import RuleViolation, ValidationError
from datastrata.core.validation import bounded_text
from datastrata.tiering.tiers import parse_age, show_age

#: The bounded contexts of the pipeline: feature views, the model registry, captured inference.
FEATURES = "mlops.features"
MODELS = "mlops.models"
INFERENCE = "mlops.inference"

#: The column a feature value's event time is in (the time the value became true).
EVENT_TIME = "event_time"
#: A label's own time (features are joined as of it) and its value.
LABEL_TIME = "label_time"
LABEL = "label"
#: The value types a feature can have.
FEATURE_TYPES = ("int64", "float64", "string", "bool")
#: Most features of one view, and longest string value.
MAX_FEATURES = 100
MAX_STRING = 1000
#: Lifecycle stages of a model version (the article's approval status), and the moves between them.
STAGES = ("pending", "approved", "rejected", "archived")
TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    "pending": ("approved", "rejected"),
    "approved": ("archived",),
    "rejected": ("archived",),
    "archived": (),
}
#: The stages the tiering policy freezes after a year (anything not approved).
UNAPPROVED = ("pending", "rejected", "archived")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_MODEL = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_RESERVED = {EVENT_TIME, LABEL_TIME, LABEL}


def check_name(value: object, *, field: str) -> str:
    """Return a view, feature or entity name: 1-63 of a-z, 0-9 and '_', starting with a letter."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValidationError(
            f"{field} must be 1-63 of a-z, 0-9 and '_', starting with a letter (e.g. customer_id); got {value!r}",
            field=field,
        )
    return value


def check_model(value: object, *, field: str = "model") -> str:
    """Return a model name: 1-63 of a-z, 0-9, '_' and '-', starting with a letter."""
    if not isinstance(value, str) or not _MODEL.match(value):
        raise ValidationError(
            f"{field} must be 1-63 of a-z, 0-9, '_' and '-', starting with a letter (e.g. churn); got {value!r}",
            field=field,
        )
    return value


def check_entity_id(value: object, *, field: str) -> str:
    """Return an entity id: 1-200 characters of text."""
    return bounded_text(value, field=field, max_length=200)


@dataclass(frozen=True, slots=True)
class FeatureView:
    """A named set of features of one entity, with their types and an optional time to live for old values."""

    name: str
    entity: str
    features: Mapping[str, str]
    ttl: timedelta | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape of the definition."""
        return {
            "name": self.name,
            "entity": self.entity,
            "features": dict(self.features),
            "ttl": None if self.ttl is None else show_age(self.ttl),
        }


def feature_view(name: object, entity: object, features: object, ttl: object = None) -> FeatureView:
    """Validate a feature view's definition; every problem names the field and the fix."""
    view = check_name(name, field="name")
    key = check_name(entity, field="entity")
    if key in _RESERVED:
        raise ValidationError(f"entity must not be one of {sorted(_RESERVED)}; got {key!r}", field="entity")
    if not isinstance(features, Mapping) or not 1 <= len(features) <= MAX_FEATURES:
        raise ValidationError(
            f"features must map 1-{MAX_FEATURES} feature names to a type ({', '.join(FEATURE_TYPES)})",
            field="features",
        )
    checked: dict[str, str] = {}
    for feature, kind in features.items():
        where = f"features.{feature}"
        check_name(feature, field=where)
        if feature in _RESERVED or feature == key:
            raise ValidationError(f"{where}: the name is taken by the entity or a reserved column", field=where)
        if kind not in FEATURE_TYPES:
            raise ValidationError(f"{where} must be one of {', '.join(FEATURE_TYPES)}; got {kind!r}", field=where)
        checked[feature] = str(kind)
    lifetime = None if ttl is None or ttl == "" else parse_age(ttl, field="ttl")
    if lifetime is not None and lifetime <= timedelta(0):
        raise ValidationError("ttl must be longer than 0 (e.g. 30d); omit it for no limit", field="ttl")
    return FeatureView(view, key, checked, lifetime)


def feature_value(value: object, kind: str, *, field: str) -> object:
    """Return `value` checked against a feature type (None is a missing value); never coerced silently."""
    if value is None:
        return None
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "int64":
        ok = isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    elif kind == "float64":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        value = float(value) if ok else value  # type: ignore[arg-type]
    else:
        ok = isinstance(value, str) and len(value) <= MAX_STRING
    if not ok:
        raise ValidationError(f"{field} must be a {kind} value (or null); got {value!r}", field=field)
    return value


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered version of a model: its artifact in object storage, its stage, its aliases."""

    model: str
    version: int
    artifact: str
    sha256: str
    bytes: int
    stage: str
    metrics: Mapping[str, float]
    registered_at: datetime
    stage_changed_at: datetime
    aliases: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape of the version."""
        return {
            "model": self.model,
            "version": self.version,
            "artifact": self.artifact,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "stage": self.stage,
            "metrics": dict(self.metrics),
            "registered_at": self.registered_at.isoformat(),
            "stage_changed_at": self.stage_changed_at.isoformat(),
            "aliases": list(self.aliases),
        }


def check_stage(stage: object) -> str:
    """Return a lifecycle stage name."""
    if stage not in STAGES:
        raise ValidationError(f"stage must be one of {', '.join(STAGES)}; got {stage!r}", field="stage")
    return str(stage)


def check_transition(version: ModelVersion, to: str) -> None:
    """Refuse a stage change the lifecycle does not allow, or archiving a version an alias points at."""
    to = check_stage(to)
    if to not in TRANSITIONS[version.stage]:
        allowed = ", ".join(TRANSITIONS[version.stage]) or "nothing (it is final)"
        raise RuleViolation(
            f"{version.model} v{version.version} is {version.stage}; it can move to {allowed}, not {to}",
            field="stage",
        )
    if version.aliases:
        raise RuleViolation(
            f"{version.model} v{version.version} is aliased as {', '.join(version.aliases)}; move the alias to "
            "another approved version first",
            field="stage",
        )


def check_alias_target(version: ModelVersion, alias: str) -> None:
    """Refuse an alias to a version that is not approved."""
    if version.stage != "approved":
        raise RuleViolation(
            f"alias {alias!r} can only point at an approved version; {version.model} v{version.version} is "
            f"{version.stage} (approve it first)",
            field="version",
        )


def check_metrics(metrics: object) -> dict[str, float]:
    """Return a model's metrics: up to 50 names → finite numbers."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping) or len(metrics) > 50:
        raise ValidationError('metrics must map up to 50 names to numbers, e.g. {"auc": 0.91}', field="metrics")
    out: dict[str, float] = {}
    for name, value in metrics.items():
        check_name(name, field=f"metrics.{name}")
        out[name] = float(feature_value(value, "float64", field=f"metrics.{name}"))  # type: ignore[arg-type]
    return out


#: PSI below this: no meaningful shift; above :data:`PSI_DRIFT`: drift (the usual rule of thumb).
PSI_STABLE = 0.1
PSI_DRIFT = 0.25
_EPSILON = 1e-4


def psi(expected: Sequence[float], actual: Sequence[float], *, bins: int = 10) -> tuple[float, list[float]]:
    """Population stability index of `actual` against `expected`, over `expected`'s quantile bins.

    Returns the index and the bin edges. Empty bins count as a tiny share so the logarithm is defined.
    """
    if not expected or not actual:
        raise ValidationError("a drift check needs values on both sides (baseline and captured)", field="feature")
    ordered = sorted(expected)
    edges = sorted({ordered[min(len(ordered) - 1, (len(ordered) * i) // bins)] for i in range(1, bins)})
    base, seen = _shares(ordered, edges), _shares(sorted(actual), edges)
    index = sum((a - e) * math.log(a / e) for e, a in zip(base, seen, strict=True))
    return index, edges


def verdict(index: float) -> str:
    """Name a PSI: stable, moderate or drift."""
    return "stable" if index < PSI_STABLE else "moderate" if index < PSI_DRIFT else "drift"


def _shares(values: Sequence[float], edges: Sequence[float]) -> list[float]:
    counts = [0] * (len(edges) + 1)
    j = 0
    for value in values:  # sorted: walk the edges once
        while j < len(edges) and value >= edges[j]:
            j += 1
        counts[j] += 1
    return [max(c / len(values), _EPSILON) for c in counts]
