"""The tiering price table: storage, retrieval and restore per storage class, as data with its source and date."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from datastrata.core.errors import ValidationError
from datastrata.core.validation import read_json_file

RestoreTier = Literal["expedited", "standard", "bulk"]
RESTORE_TIERS = ("expedited", "standard", "bulk")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClassPrice(_Strict):
    """What one storage class costs and the rules that make early moves a trap."""

    usd_per_gb_month: Decimal = Field(ge=0)
    min_days: int = Field(ge=0)
    min_billable_kb: int = Field(ge=0)
    overhead_kb_class: int = Field(ge=0)
    overhead_kb_standard: int = Field(ge=0)
    retrieval_usd_per_gb: Decimal = Field(ge=0)
    transition_usd_per_thousand: Decimal = Field(ge=0)


class RestorePrice(_Strict):
    """How long a restore of one tier takes (the published upper bound) and what it costs."""

    hours: Decimal = Field(gt=0)
    usd_per_gb: Decimal = Field(ge=0)
    usd_per_thousand_requests: Decimal = Field(ge=0)

    @property
    def duration(self) -> timedelta:
        """The restore's duration as our ETA model uses it."""
        return timedelta(seconds=round(float(self.hours) * 3600))


class TieringPrices(_Strict):
    """Every price the tiering cost model and the restore ETAs use."""

    source: str
    date: str
    note: str = ""
    currency: str = "USD"
    days_per_month: int = Field(gt=0)
    online_usd_per_gb_month: Decimal = Field(ge=0)
    classes: dict[str, ClassPrice]
    restores: dict[str, dict[RestoreTier, RestorePrice]]

    def storage_class(self, name: str) -> ClassPrice:
        """The prices of storage class `name`."""
        if name not in self.classes:
            raise ValidationError(
                f"storage class {name!r} has no price; known: {', '.join(self.classes)}", field="storage_class"
            )
        return self.classes[name]

    def restore(self, storage_class: str, tier: str) -> RestorePrice:
        """The duration and price of restoring an object of `storage_class` with `tier`."""
        options = self.restores.get(storage_class)
        if options is None:
            raise ValidationError(
                f"objects of class {storage_class} are readable without a restore; only "
                f"{', '.join(self.restores)} objects are restored",
                field="tier",
            )
        if tier not in options:
            raise ValidationError(
                f"tier must be one of {', '.join(options)} for {storage_class} objects; got {tier!r}", field="tier"
            )
        return options[tier]


def default_prices() -> TieringPrices:
    """The shipped table (`tiering/prices.json`)."""
    text = resources.files("datastrata.tiering").joinpath("prices.json").read_text(encoding="utf-8")
    return _validate(json.loads(text), "tiering/prices.json")


def load_prices(path: Path | None) -> TieringPrices:
    """The shipped table, or a user's complete JSON table in its place."""
    if path is None:
        return default_prices()
    data = read_json_file(path, field="prices", what="price file")
    return _validate(data, str(path))


def _validate(data: object, origin: str) -> TieringPrices:
    try:
        return TieringPrices.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(part) for part in first["loc"])
        raise ValidationError(f"{origin}: {path}: {first['msg']}", field=f"prices.{path}") from None
