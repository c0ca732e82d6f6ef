"""Entity types: the schema of each kind of master record, validation, and the JSON form of attributes. No I/O."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from datastrata.core.errors import ValidationError
from datastrata.core.validation import MAX_INT, decimal_value

#: A check returns a problem description ("must be ...") or None when the value is fine.
Check = Callable[[Any], str | None]

SUPPORTED_TYPES: tuple[type, ...] = (str, int, bool, Decimal, float, date, datetime)
_TYPE_NAMES = {
    str: "str",
    int: "int",
    bool: "bool",
    Decimal: "Decimal",
    float: "float",
    date: "date",
    datetime: "datetime",
}
_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_KEY = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
_NOT_CONVERTED: Any = object()
#: Bounds of attribute values, so a downstream copy (a NUMERIC(26, 8) or BIGINT column) can hold every value.
MAX_DIGITS = 18
MAX_DECIMALS = 8
MAX_TEXT = 10_000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One attribute of an entity type: its Python type and an optional extra check."""

    type: type
    check: Check | None = None
    hint: str = ""

    def __post_init__(self) -> None:
        if self.type not in SUPPORTED_TYPES:
            names = ", ".join(_TYPE_NAMES[t] for t in SUPPORTED_TYPES)
            raise ValidationError(f"field type {self.type!r} is not supported; use one of {names}", field="fields")


@dataclass(frozen=True, slots=True)
class EntityType:
    """The schema of one entity type: its fields and which of them every version must carry."""

    name: str
    fields: Mapping[str, FieldSpec]
    required: frozenset[str] = field(default_factory=frozenset)

    def validate(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """Return `attributes` normalised to their field types; refuse unknown, missing or ill-typed fields."""
        if not isinstance(attributes, Mapping):
            raise ValidationError(
                f"attributes of a {self.name} must be a mapping of field to value; got {type(attributes).__name__}",
                field="attributes",
            )
        unknown = sorted(str(k) for k in attributes if k not in self.fields)
        if unknown:
            raise ValidationError(
                f"{self.name} has no field {unknown[0]!r}; remove it or use one of {sorted(self.fields)}",
                field=unknown[0],
            )
        result: dict[str, Any] = {}
        for name, spec in self.fields.items():
            value = attributes.get(name)
            if value is None:
                if name in self.required:
                    raise ValidationError(
                        f"{self.name} needs field {name!r} ({_describe(spec)}); add it to the attributes",
                        field=name,
                    )
                continue
            result[name] = _coerce(self.name, name, spec, value)
        return result

    def dump(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """Return the JSON form of validated attributes (Decimal, date and datetime become ISO strings)."""
        return {name: json_value(value) for name, value in attributes.items()}

    def load(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Rebuild typed attributes from their JSON form (fields this schema does not know are kept as stored)."""
        result: dict[str, Any] = {}
        for name, value in data.items():
            spec = self.fields.get(name)
            result[name] = value if spec is None or value is None else _load(spec.type, value)
        return result

    def describe(self) -> dict[str, Any]:
        """Return a JSON-friendly description of the schema."""
        return {
            "name": self.name,
            "fields": {n: _describe(s) for n, s in self.fields.items()},
            "required": sorted(self.required),
        }


def entity_type(name: str, fields: Mapping[str, type | FieldSpec], *, required: Iterable[str] = ()) -> EntityType:
    """Build an :class:`EntityType` from ``{field: type or FieldSpec}`` and the names of required fields."""
    check_type_name(name)
    if not fields:
        raise ValidationError(f"entity type {name!r} needs at least one field", field="fields")
    specs: dict[str, FieldSpec] = {}
    for field_name, spec in fields.items():
        if not isinstance(field_name, str) or not _FIELD_NAME.match(field_name):
            raise ValidationError(
                f"field name {field_name!r} must be 1-63 of letters, digits and '_', not starting with a digit",
                field="fields",
            )
        specs[field_name] = spec if isinstance(spec, FieldSpec) else FieldSpec(spec)
    required_set = frozenset(required)
    missing = sorted(required_set - set(specs))
    if missing:
        raise ValidationError(
            f"required field {missing[0]!r} of {name!r} is not among its fields {sorted(specs)}; add it to fields",
            field="required",
        )
    return EntityType(name, specs, required_set)


def check_type_name(name: str) -> str:
    """Refuse an entity type name that is not 1-63 of a-z, 0-9 and '_', starting with a letter."""
    if not isinstance(name, str) or not _TYPE_NAME.match(name):
        raise ValidationError(
            f"entity type must be 1-63 of a-z, 0-9 and '_', starting with a letter, e.g. customer; got {name!r}",
            field="entity_type",
        )
    return name


def check_key(key: str) -> str:
    """Refuse an entity key that is empty, longer than 200 characters or holds control characters."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValidationError(
            f"entity key must be 1-200 printable characters, e.g. C1; got {key!r}", field="entity_key"
        )
    return key


def _describe(spec: FieldSpec) -> str:
    name = _TYPE_NAMES[spec.type]
    return f"{name}, {spec.hint}" if spec.hint else name


def _coerce(type_name: str, name: str, spec: FieldSpec, value: Any) -> Any:
    """Return `value` as `spec.type`, accepting the text forms JSON and the CLI give for Decimal and times."""
    wanted = spec.type
    converted = _NOT_CONVERTED if isinstance(value, bool) and wanted is not bool else _CONVERTERS[wanted](value)
    if converted is _NOT_CONVERTED:
        raise ValidationError(
            f"{type_name} field {name!r} must be {_describe(spec)}{_example(wanted)}; "
            f"got {type(value).__name__} {value!r}",
            field=name,
        )
    if spec.check is not None:
        problem = spec.check(converted)
        if problem:
            raise ValidationError(f"{type_name} field {name!r} {problem}; got {value!r}", field=name)
    return converted


def _example(wanted: type) -> str:
    examples = {
        Decimal: (
            f" (a plain decimal string such as '19.99', at most {MAX_DIGITS} digits before the point and "
            f"{MAX_DECIMALS} after; floats are refused because they round)"
        ),
        int: f" (between -{MAX_INT} and {MAX_INT})",
        str: f" (at most {MAX_TEXT} characters)",
        datetime: " (an aware datetime or ISO text such as '2025-09-12T10:00:00Z')",
        date: " (a date or ISO text such as '2025-09-12')",
    }
    return examples.get(wanted, "")


def _decimal(value: Decimal | int | str) -> Any:
    try:
        return decimal_value(value, field="value", max_digits=MAX_DIGITS, max_decimals=MAX_DECIMALS)
    except ValidationError:
        return _NOT_CONVERTED


def _datetime(value: datetime | str) -> Any:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return _NOT_CONVERTED
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        return _NOT_CONVERTED
    return value.astimezone(UTC)


def _date(value: date | str) -> Any:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return _NOT_CONVERTED
    return value


def _exact(kind: type) -> Callable[[Any], Any]:
    return lambda value: value if isinstance(value, kind) else _NOT_CONVERTED


def _float(value: Any) -> Any:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or abs(value) > 1e300:
        return _NOT_CONVERTED
    return float(value)


def _int(value: Any) -> Any:
    return value if isinstance(value, int) and -MAX_INT <= value <= MAX_INT else _NOT_CONVERTED


def _str(value: Any) -> Any:
    return value if isinstance(value, str) and len(value) <= MAX_TEXT else _NOT_CONVERTED


_CONVERTERS: dict[type, Callable[[Any], Any]] = {
    str: _str,
    bool: _exact(bool),
    int: _int,
    float: _float,
    Decimal: lambda v: _decimal(v) if isinstance(v, (Decimal, int, str)) else _NOT_CONVERTED,
    datetime: lambda v: _datetime(v) if isinstance(v, (datetime, str)) else _NOT_CONVERTED,
    date: lambda v: _date(v) if isinstance(v, (date, str)) and not isinstance(v, datetime) else _NOT_CONVERTED,
}


def json_value(value: Any) -> Any:
    """Return the JSON form of an attribute value (Decimal, date and datetime as ISO text)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _load(wanted: type, value: Any) -> Any:
    if wanted is Decimal:
        return Decimal(str(value))
    if wanted is datetime:
        return datetime.fromisoformat(str(value)).astimezone(UTC)
    if wanted is date:
        return date.fromisoformat(str(value))
    if wanted is float:
        return float(value)
    return value


# ---- built-in checks and types ------------------------------------------------------------------------------


def _non_blank(value: str) -> str | None:
    return "must not be blank" if not value.strip() else None


def _email(value: str) -> str | None:
    return None if _EMAIL.match(value) else "must be an email address such as alice@example.com"


def _currency(value: str) -> str | None:
    return None if re.fullmatch(r"[A-Z]{3}", value) else "must be an ISO 4217 code of three capital letters, e.g. EUR"


def _country(value: str) -> str | None:
    return None if re.fullmatch(r"[A-Z]{2}", value) else "must be an ISO 3166 code of two capital letters, e.g. JP"


def _not_negative(value: Decimal) -> str | None:
    return "must be 0 or more" if value < 0 else None


def _payment_terms(value: int) -> str | None:
    return None if 0 <= value <= 365 else "must be between 0 and 365 days"


def _text(check: Check | None = _non_blank, hint: str = "") -> FieldSpec:
    return FieldSpec(str, check, hint)


CUSTOMER = entity_type(
    "customer",
    {
        "name": _text(),
        "email": _text(_email, "an email address"),
        "phone": _text(),
        "address": _text(),
        "credit_tier": _text(),
    },
    required=["name"],
)
PRODUCT = entity_type(
    "product",
    {
        "sku": _text(),
        "name": _text(),
        "price": FieldSpec(Decimal, _not_negative, "0 or more"),
        "currency": _text(_currency, "ISO 4217 code such as EUR"),
        "category": _text(),
    },
    required=["sku", "name", "price", "currency"],
)
SUPPLIER = entity_type(
    "supplier",
    {
        "name": _text(),
        "country": _text(_country, "ISO 3166 alpha-2 code such as JP"),
        "payment_terms_days": FieldSpec(int, _payment_terms, "0 to 365"),
    },
    required=["name"],
)
BUILT_IN: tuple[EntityType, ...] = (CUSTOMER, PRODUCT, SUPPLIER)


class TypeRegistry:
    """The entity types a store accepts: the built-in ones plus those registered by the user."""

    def __init__(self, types: Iterable[EntityType] = BUILT_IN) -> None:
        self._types: dict[str, EntityType] = {t.name: t for t in types}

    def register(self, definition: EntityType) -> EntityType:
        """Add `definition`; registering the same schema again is a no-op, a different one is refused."""
        existing = self._types.get(definition.name)
        if existing is not None and existing != definition:
            raise ValidationError(
                f"entity type {definition.name!r} is already registered with another schema; "
                "choose a new name (a stored history must keep meaning what it meant)",
                field="entity_type",
            )
        self._types[definition.name] = definition
        return definition

    def get(self, name: str) -> EntityType:
        """Return the type `name` or refuse it, naming the known types."""
        check_type_name(name)
        found = self._types.get(name)
        if found is None:
            raise ValidationError(
                f"unknown entity type {name!r}; use one of {sorted(self._types)} or register it with "
                "store.register_type(name, {field: type}, required=[...])",
                field="entity_type",
            )
        return found

    def find(self, name: str) -> EntityType | None:
        """Return the type `name`, or None when it is not registered."""
        return self._types.get(name)

    def names(self) -> list[str]:
        """Return the registered type names, sorted."""
        return sorted(self._types)
