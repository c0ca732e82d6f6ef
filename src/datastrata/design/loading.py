"""Read a spec from YAML or JSON text, a file or a mapping, with path-precise errors."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pydantic
import yaml
from pydantic import BaseModel

from datastrata.core.errors import ValidationError
from datastrata.design.checks import problems
from datastrata.design.spec import Spec

_MAX_LISTED = 10
_EXAMPLES = "datastrata.design.examples"


def example_names() -> list[str]:
    """The built-in example specs shipped with the package, by name (``uber-eats``, ``netflix`` …)."""
    folder = resources.files(_EXAMPLES)
    return sorted(entry.name.removesuffix(".yaml") for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def spec_source(argument: str) -> str | Path:
    """Resolve the `design` argument: an existing file, else a built-in example's text by name."""
    path = Path(argument)
    if path.is_file():
        return path
    name = path.name.removesuffix(".yaml").removesuffix(".yml")
    if name in example_names() and (path.parent == Path(".") or not path.exists()):
        return resources.files(_EXAMPLES).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    raise ValidationError(
        f"spec: {argument!r} is neither a file nor a built-in example; give a YAML/JSON file or one of "
        f"{', '.join(example_names())}",
        field="spec",
    )


def load_spec(source: str | Path | Mapping[str, Any]) -> Spec:
    """Load and validate a requirements spec from a path, YAML/JSON text or an already parsed mapping."""
    if isinstance(source, Mapping):
        return parse_spec(source)
    text, origin = _read(source)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValidationError(f"{origin}: not valid YAML or JSON{where}: {problem}", field="") from exc
    if not isinstance(data, Mapping):
        raise ValidationError(
            f"{origin}: a spec is a mapping with system and contexts; got {type(data).__name__}", field=""
        )
    return parse_spec(data, lines=_line_map(text))


def parse_spec(data: Mapping[str, Any], *, lines: Mapping[str, int] | None = None) -> Spec:
    """Validate a parsed spec; raise ValidationError naming every bad field's path."""
    line_of = dict(lines or {})
    try:
        spec = Spec.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        errors = exc.errors()
        found = [(_path(error["loc"]), _message(error)) for error in errors if not _echo(error, errors)]
        _raise(found, line_of)
    found = problems(spec)
    if found:
        _raise(found, line_of)
    return spec.with_lines(line_of)


def _echo(error: Any, errors: list[Any]) -> bool:
    """A list's too_short error that only repeats that some of its items were invalid."""
    if error["type"] != "too_short":
        return False
    loc = tuple(error["loc"])
    return any(tuple(other["loc"])[: len(loc)] == loc and len(other["loc"]) > len(loc) for other in errors)


def _read(source: str | Path) -> tuple[str, str]:
    if isinstance(source, Path):
        return _read_file(source), str(source)
    looks_like_text = "\n" in source or source.lstrip().startswith(("{", "system"))
    if not looks_like_text:
        candidate = Path(source)
        if candidate.is_file() or candidate.suffix in {".yaml", ".yml", ".json"}:
            return _read_file(candidate), source
    return source, "spec"


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(f"spec file {str(path)!r} does not exist; check the path", field="spec") from None
    except OSError as exc:
        raise ValidationError(f"spec file {str(path)!r} cannot be read: {exc.strerror}", field="spec") from None


def _raise(found: list[tuple[str, str]], lines: Mapping[str, int]) -> typing.NoReturn:
    rendered = []
    for path, message in found[:_MAX_LISTED]:
        line = _nearest_line(path, lines)
        where = f" (line {line})" if line is not None else ""
        rendered.append(f"{path}{where}: {message}")
    if len(found) > _MAX_LISTED:
        rendered.append(f"… and {len(found) - _MAX_LISTED} more")
    raise ValidationError("\n".join(rendered), field=found[0][0])


def _nearest_line(path: str, lines: Mapping[str, int]) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            break
        path = path[:cut]
    return lines.get(path)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("function-"):
            continue
        else:
            out += f".{part}" if out else part
    return out or "spec"


def _message(error: Any) -> str:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "required field is missing; add it"
    if kind == "extra_forbidden":
        allowed = _allowed_fields(error["loc"][:-1])
        hint = f"; allowed fields are {', '.join(allowed)}" if allowed else ""
        return f"unknown field{hint}"
    if kind in {"literal_error", "enum"}:
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"{value!r} is not one of {expected}"
    if kind == "too_short":
        return "at least one is required (an empty list is not enough)"
    if kind == "string_pattern_mismatch":
        return f"{value!r} must start with a letter and use only letters, digits, spaces, '-' or '_'"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind in {"greater_than", "greater_than_equal"}:
        bound = ctx.get("gt", ctx.get("ge"))
        relation = "greater than" if kind == "greater_than" else "at least"
        return f"{value!r} must be {relation} {bound}"
    if kind in {"dict_type", "model_type", "model_attributes_type"}:
        return f"expected a mapping of fields, got {type(value).__name__}"
    if kind in {"tuple_type", "list_type"}:
        return f"expected a list, got {type(value).__name__}"
    return f"{error['msg'][:1].lower()}{error['msg'][1:]} (got {value!r})"


def _allowed_fields(loc: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] | None = Spec
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        field = next(
            (f for name, f in model.model_fields.items() if (f.alias or name) == part),
            None,
        )
        model = _model_in(field.annotation) if field is not None else None
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in {tuple, list, typing.Union, types.UnionType, typing.Annotated}:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _line_map(text: str) -> dict[str, int]:
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}
    if root is not None:
        _walk(root, "", lines)
    return lines


def _walk(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    if path:
        lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = str(key.value)
            child = f"{path}.{name}" if path else name
            lines[child] = key.start_mark.line + 1
            _walk(value, child, lines)
            lines[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, f"{path}[{index}]", lines)
