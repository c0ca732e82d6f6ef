"""The requirements spec: a system's bounded contexts, each analysed in the article's four steps."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr

from datastrata.design.spec_types import (
    Availability,
    Cardinality,
    ConsistencyLevel,
    ConstraintType,
    Frequency,
    Kind,
    OperationType,
    Pattern,
    Structure,
)
from datastrata.design.units import parse_fraction, parse_volume_gb

VolumeGB = Annotated[Decimal, BeforeValidator(parse_volume_gb)]
Fraction = Annotated[Decimal, BeforeValidator(parse_fraction)]
Name = Annotated[str, Field(min_length=1, max_length=80)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Entity(_Part):
    """Step 1: a protagonist of the business story (a future noun of the database)."""

    name: Name
    kind: Kind
    structure: Structure = "structured"
    attributes: tuple[str, ...] = ()
    key: str | None = None


class Relationship(_Part):
    """Step 2: how two protagonists relate (`User places Order`)."""

    from_: Name = Field(alias="from")
    verb: Name
    to: Name
    cardinality: Cardinality = "one-to-many"
    properties: tuple[str, ...] = ()


class Operation(_Part):
    """Step 3: a story that happens to the data, with how often and how it reads."""

    name: Name
    type: OperationType
    frequency: Frequency | None = None
    rate_per_s: Decimal | None = Field(default=None, gt=0)
    pattern: Pattern
    latency_ms: int | None = Field(default=None, gt=0)
    entity: str | None = None
    by: tuple[str, ...] = ()


class Constraint(_Part):
    """Step 4: a rule the data must obey."""

    type: ConstraintType
    level: ConsistencyLevel | None = None
    detail: str | None = None
    years: Decimal | None = Field(default=None, gt=0)
    ms: int | None = Field(default=None, gt=0)
    contexts: tuple[str, ...] = ()
    entity: str | None = None
    attributes: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()


class DataProfile(_Part):
    """How much data a context holds and how it ages."""

    volume: VolumeGB = Decimal(10)
    growth_per_year: Fraction = Decimal(0)
    value_decays_with_age: bool = False


class Context(_Part):
    """A bounded context: one service that owns its data."""

    name: Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[A-Za-z][A-Za-z0-9 _-]*$")]
    description: str | None = None
    tenants: int = Field(default=1, ge=1)
    entities: tuple[Entity, ...] = Field(min_length=1)
    relationships: tuple[Relationship, ...] = ()
    operations: tuple[Operation, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    data: DataProfile = DataProfile()


class Spec(_Part):
    """A whole system's requirements: what the design advisor reads."""

    system: Name
    description: str | None = None
    budget_usd_per_month: Decimal | None = Field(default=None, gt=0)
    availability: Availability | None = None
    contexts: tuple[Context, ...] = Field(min_length=1)

    _lines: dict[str, int] = PrivateAttr(default_factory=dict)

    def line_of(self, path: str) -> int | None:
        """The line of the spec text a field came from, when it was loaded from text."""
        return self._lines.get(path)

    def with_lines(self, lines: dict[str, int]) -> Spec:
        """Attach a map of field paths to source lines."""
        self._lines = dict(lines)
        return self
