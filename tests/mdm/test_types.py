"""Entity types: built-in schemas, user types, and refusals that name the field and the fix."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from datastrata.core.errors import ValidationError
from datastrata.mdm.types import CUSTOMER, PRODUCT, SUPPLIER, EntityType, FieldSpec, TypeRegistry, entity_type


def test_built_in_types_normalise_their_values() -> None:
    assert PRODUCT.validate({"sku": "T1", "name": "Tea", "price": "4.50", "currency": "JPY"})["price"] == Decimal(
        "4.50"
    )
    assert SUPPLIER.validate({"name": "Kyoto Tea", "country": "JP", "payment_terms_days": 30})["country"] == "JP"
    assert CUSTOMER.validate({"name": "Alice", "phone": None}) == {"name": "Alice"}


@pytest.mark.parametrize(
    ("schema", "attributes", "field", "hint"),
    [
        (CUSTOMER, {"name": "Alice", "age": 3}, "age", "remove it"),
        (CUSTOMER, {"name": " "}, "name", "blank"),
        (CUSTOMER, {"name": True}, "name", "must be str"),
        (PRODUCT, {"sku": "T1", "name": "Tea", "price": 4.5, "currency": "JPY"}, "price", "floats are refused"),
        (PRODUCT, {"sku": "T1", "name": "Tea", "price": "-1", "currency": "JPY"}, "price", "0 or more"),
        (PRODUCT, {"sku": "T1", "name": "Tea", "price": "NaN", "currency": "JPY"}, "price", "Decimal"),
        (PRODUCT, {"sku": "T1", "name": "Tea", "currency": "JPY"}, "price", "add it"),
        (SUPPLIER, {"name": "X", "payment_terms_days": True}, "payment_terms_days", "must be int"),
        (SUPPLIER, {"name": "X", "payment_terms_days": 400}, "payment_terms_days", "between 0 and 365"),
        (SUPPLIER, {"name": "X", "country": "Japan"}, "country", "two capital letters"),
    ],
)
def test_refusals_name_the_field_and_the_fix(
    schema: EntityType, attributes: dict[str, Any], field: str, hint: str
) -> None:
    with pytest.raises(ValidationError, match=hint) as refused:
        schema.validate(attributes)
    assert refused.value.field == field
    assert repr(field) in str(refused.value)


def test_user_types_round_trip_through_json() -> None:
    event = entity_type(
        "event_venue",
        {"name": str, "seats": int, "fee": Decimal, "opened": date, "since": datetime, "open": bool, "lat": float},
        required=["name"],
    )
    values = event.validate(
        {
            "name": "Hall",
            "seats": 10,
            "fee": "1.10",
            "opened": "2020-02-02",
            "since": datetime(2020, 1, 1, tzinfo=UTC),
            "open": True,
            "lat": 35,
        }
    )
    assert event.load(event.dump(values)) == values
    assert event.describe()["required"] == ["name"]


def test_bad_type_definitions_are_refused() -> None:
    with pytest.raises(ValidationError, match="entity type must be"):
        entity_type("Customer!", {"name": str})
    with pytest.raises(ValidationError, match="not among its fields"):
        entity_type("thing", {"name": str}, required=["title"])
    with pytest.raises(ValidationError, match="not supported"):
        entity_type("thing", {"tags": list})
    with pytest.raises(ValidationError, match="not supported"):
        FieldSpec(dict)
    registry = TypeRegistry()
    with pytest.raises(ValidationError, match="already registered"):
        registry.register(entity_type("customer", {"name": str}))
    assert registry.register(CUSTOMER) is CUSTOMER
