"""Invalid specs give errors that name the path of the bad field and how to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from datastrata.core.errors import ValidationError
from datastrata.design import load_spec, parse_spec

GOOD = """
system: Shop
contexts:
  - name: orders
    entities:
      - {name: Order, kind: transaction, attributes: [order_id, total]}
    operations:
      - {name: submit order, type: write, frequency: high, pattern: key-lookup, by: [order_id]}
    constraints:
      - {type: consistency, level: strong}
"""


def _error(text: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        load_spec(text)
    return caught.value


def test_good_spec_loads() -> None:
    spec = load_spec(GOOD)
    assert spec.contexts[0].entities[0].name == "Order"
    assert spec.line_of("contexts[0].operations[0]") == 8


def test_bad_kind_names_path_and_choices() -> None:
    error = _error(GOOD.replace("kind: transaction", "kind: blob"))
    assert error.field == "contexts[0].entities[0].kind"
    assert "contexts[0].entities[0].kind (line 6): 'blob' is not one of master, transaction" in error.message


def test_unknown_field_lists_allowed_fields() -> None:
    error = _error(GOOD.replace("pattern: key-lookup", "pattern: key-lookup, speed: fast"))
    assert error.field == "contexts[0].operations[0].speed"
    assert "unknown field; allowed fields are name, type, frequency, rate_per_s, pattern" in error.message


def test_missing_frequency_says_how_to_fix() -> None:
    error = _error(GOOD.replace("frequency: high, ", ""))
    assert error.field == "contexts[0].operations[0].frequency"
    assert "give frequency (very-high, high, medium, low) or rate_per_s" in error.message


def test_bad_volume_names_the_data_field() -> None:
    error = _error(GOOD + "    data: {volume: lots}\n")
    assert error.field == "contexts[0].data.volume"
    assert "write it like 500GB, 2TB or 1.5PB" in error.message


def test_consistency_needs_a_level() -> None:
    error = _error(GOOD.replace("{type: consistency, level: strong}", "{type: consistency}"))
    assert error.field == "contexts[0].constraints[0].level"


def test_retention_needs_years_and_latency_needs_ms() -> None:
    error = _error(GOOD.replace("{type: consistency, level: strong}", "{type: retention}\n      - {type: latency}"))
    assert error.field == "contexts[0].constraints[0].years"
    assert "contexts[0].constraints[1].ms" in error.message


def test_by_must_name_an_attribute() -> None:
    error = _error(GOOD.replace("by: [order_id]", "by: [order_no]"))
    assert error.field == "contexts[0].operations[0].by[0]"
    assert "'order_no' is not an attribute of Order" in error.message


def test_atomicity_must_name_known_contexts() -> None:
    bad = GOOD.replace(
        "{type: consistency, level: strong}",
        "{type: consistency, level: strong}\n      - {type: atomicity, contexts: [billing]}",
    )
    error = _error(bad)
    assert error.field == "contexts[0].constraints[1].contexts[0]"


def test_duplicate_context_names_are_rejected() -> None:
    data = load_spec(GOOD).model_dump(by_alias=True, mode="json")
    data["contexts"].append(data["contexts"][0])
    with pytest.raises(ValidationError) as caught:
        parse_spec(data)
    assert caught.value.field == "contexts[1].name"


def test_contexts_and_entities_are_required() -> None:
    assert _error("system: Shop\ncontexts: []\n").field == "contexts"
    assert _error("system: Shop\ncontexts:\n  - {name: a, entities: []}\n").field == "contexts[0].entities"
    assert _error("contexts:\n  - {name: a, entities: [{name: A, kind: master}]}\n").field == "system"


def test_attribute_types_are_checked() -> None:
    error = _error(GOOD.replace("total]", "total:money]"))
    assert error.field == "contexts[0].entities[0].attributes[1]"
    assert "type one of text, int" in error.message


def test_invalid_yaml_reports_line() -> None:
    error = _error("system: [unclosed\ncontexts: x\n")
    assert "not valid YAML or JSON at line" in error.message


def test_missing_file_is_a_validation_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")


def test_json_text_is_accepted() -> None:
    spec = load_spec('{"system": "S", "contexts": [{"name": "a", "entities": [{"name": "A", "kind": "master"}]}]}')
    assert spec.system == "S"
