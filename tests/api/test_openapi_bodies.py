"""Every operation in /openapi.json describes its success body with a schema that says something."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from datastrata.api import create_app
from datastrata.core.config import Settings


def _empty(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """A schema that admits anything: ``{}``, or a bare object with no properties nor additionalProperties shape."""
    if "$ref" in schema:
        return _empty(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    if not schema:
        return True
    if (
        schema.get("type") == "object"
        and not schema.get("properties")
        and schema.get("additionalProperties")
        in (
            None,
            True,
            {},
        )
    ):
        return True
    if schema.get("type") == "array":
        return _empty(schema.get("items", {}), components)
    return False


def test_every_operation_has_a_2xx_body_schema(tmp_path: Path) -> None:
    settings = Settings(store=f"sqlite:///{tmp_path / 'db.sqlite'}", graph=f"ladybug:///{tmp_path / 'g'}")
    with TestClient(create_app(settings, worker=False)) as http:
        spec = http.get("/openapi.json").json()
    components = spec.get("components", {}).get("schemas", {})
    missing = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            ok = [r for code, r in operation["responses"].items() if code.startswith("2")]
            if not ok:
                missing.append(f"{method.upper()} {path}: no 2xx response")
                continue
            for response in ok:
                content = response.get("content")
                if content is None:  # 204 and the like: no body to describe
                    continue
                schema = next(iter(content.values())).get("schema", {})
                if _empty(schema, components):
                    missing.append(f"{method.upper()} {path}: empty 2xx schema")
    assert not missing, "\n".join(missing)
