"""The price table: shipped as data with its source and date, overridable by a user's JSON file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from datastrata.core.errors import ValidationError
from datastrata.core.validation import read_json_file
from datastrata.design.catalog import BY_PRICE_KEY

Tier = Literal["basic", "standard", "enterprise"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Instance(_Strict):
    """One instance class and what one node of it is assumed to handle."""

    type: str
    usd_per_hour: Decimal = Field(ge=0)
    storage_gb: Decimal | None = Field(default=None, gt=0)
    writes_per_s: Decimal | None = Field(default=None, gt=0)
    reads_per_s: Decimal | None = Field(default=None, gt=0)


class Entry(_Strict):
    """Prices for one technology under one pricing model."""

    model: Literal["instances", "capacity", "time-series", "storage", "scan", "stream", "queue"]
    instances: dict[Tier, Instance] | None = None
    storage_usd_per_gb_month: Decimal = Decimal(0)
    io_usd_per_million: Decimal = Decimal(0)
    standby_nodes: int = Field(default=0, ge=0)
    min_nodes: int = Field(default=1, ge=1)
    storage_copies_with_standby: int = Field(default=1, ge=1)
    storage_per_node: bool = False
    write_unit_usd_per_hour: Decimal = Decimal(0)
    read_unit_usd_per_hour: Decimal = Decimal(0)
    writes_usd_per_million: Decimal = Decimal(0)
    memory_usd_per_gb_hour: Decimal = Decimal(0)
    query_unit_usd_per_hour: Decimal = Decimal(0)
    min_query_units: int = 0
    queries_per_s_per_unit: Decimal = Decimal(1)
    usd_per_tb_scanned: Decimal = Decimal(0)
    gb_scanned_per_query: Decimal = Decimal(0)
    put_usd_per_thousand: Decimal = Decimal(0)
    shard_usd_per_hour: Decimal = Decimal(0)
    records_per_s_per_shard: Decimal = Decimal(1000)
    put_usd_per_million: Decimal = Decimal(0)
    usd_per_million_requests: Decimal = Decimal(0)
    requests_per_message: int = 1


class AvailabilityCost(_Strict):
    """What an availability level costs: a standby per node and how many regions."""

    standby: bool
    regions: int = Field(ge=1)


class PriceTable(_Strict):
    """Every price the cost model uses, with where it came from."""

    source: str
    date: str
    note: str = ""
    currency: str = "USD"
    region: str
    hours_per_month: Decimal = Field(gt=0)
    item_kb: Decimal = Field(gt=0)
    average_to_peak: Decimal = Field(default=Decimal("0.3"), gt=0, le=1)
    availability: dict[Literal["single", "multi-az", "cross-region", "global"], AvailabilityCost]
    read_replicas_by_tier: dict[Tier, int]
    aws: dict[str, Entry]
    self_hosted: dict[str, Entry]


def default_prices() -> PriceTable:
    """The shipped price table (`prices.json`)."""
    text = resources.files("datastrata.design").joinpath("prices.json").read_text(encoding="utf-8")
    return _validate(json.loads(text), "prices.json")


def load_prices(path: Path | None) -> PriceTable:
    """The shipped table, with a user's JSON file merged over it when one is given."""
    if path is None:
        return default_prices()
    override = read_json_file(path, field="prices", what="price file")
    if not isinstance(override, Mapping):
        raise ValidationError(f"price file {str(path)!r} must hold a JSON object", field="prices")
    base = json.loads(resources.files("datastrata.design").joinpath("prices.json").read_text(encoding="utf-8"))
    return _validate(_merge(base, override), str(path))


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return override


def _validate(data: Any, origin: str) -> PriceTable:
    try:
        table = PriceTable.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(part) for part in first["loc"])
        raise ValidationError(f"{origin}: {path}: {first['msg']}", field=f"prices.{path}") from None
    for side, entries in (("aws", table.aws), ("self_hosted", table.self_hosted)):
        for key in BY_PRICE_KEY:
            if key not in entries:
                raise ValidationError(
                    f"{origin}: {side}.{key}: missing; every technology needs a price", field=f"prices.{side}.{key}"
                )
            entry = entries[key]
            if entry.model == "instances" and not entry.instances:
                raise ValidationError(
                    f"{origin}: {side}.{key}.instances: an instances model needs instance classes per tier",
                    field=f"prices.{side}.{key}.instances",
                )
    return table
