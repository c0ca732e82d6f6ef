"""Declarations of personal data: which event fields and which state columns belong to a data subject.

A system declares, beside its code, the fields of its events that are personal (they are sealed with the
subject's key as they are appended) and the state or read-model columns that copy them (``erase`` clears them).
A field is a dotted path into the payload: ``after.email``; ``*`` steps into every item of a list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from datastrata.core.errors import ConfigurationError

if TYPE_CHECKING:
    from datastrata.runtime import Runtime

#: What a personal field reads once its subject is erased.
ERASED: Final = "[erased]"
#: What a personal field holds in the stored payload (its value is in the sealed envelope).
SEALED: Final = "[sealed]"

_PATH = re.compile(r"^(\*|[A-Za-z_][A-Za-z0-9_]{0,99})(\.(\*|[A-Za-z_][A-Za-z0-9_]{0,99})){0,9}$")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

#: The subject of a personal event, from its payload; ``None``: this event holds nobody's personal data.
Subject = Callable[[Mapping[str, Any]], "str | None"]
#: Drops copies held outside the stores' tables (a cache) once `subject` of the current tenant is erased; returns
#: whether it holds copies of that subject's kind at all.
Copies = Callable[["Runtime", str], bool]


@dataclass(frozen=True, slots=True)
class PersonalEvent:
    """The personal fields of one event type and how to find whose they are."""

    event_type: str
    fields: tuple[str, ...]
    subject: Subject


@dataclass(frozen=True, slots=True)
class PersonalColumn:
    """A state or read-model column holding a subject's personal data (cleared by ``erase``)."""

    table: str
    column: str
    subject_column: str
    #: Paths inside a JSON column to clear (empty: the whole column is personal).
    fields: tuple[str, ...] = ()
    #: Further equality filters, e.g. ``(("entity_type", "customer"),)``.
    where: tuple[tuple[str, str], ...] = ()
    #: The value an erased whole column is set to (a numeric column needs a number).
    erased: str | float = ERASED
    #: The subject is ``prefix`` + the column's value (``user:`` + ``user_id``).
    prefix: str = ""


_EVENTS: dict[str, PersonalEvent] = {}
_COLUMNS: dict[tuple[str, str, tuple[tuple[str, str], ...]], PersonalColumn] = {}
_COPIES: dict[str, Copies] = {}
_LOADED: list[bool] = []


def declare_personal(event_type: str, fields: tuple[str, ...] | list[str], subject: Subject) -> PersonalEvent:
    """Declare `fields` of `event_type` personal to the subject `subject(payload)` names (idempotent)."""
    paths = tuple(fields)
    if not event_type or not paths:
        raise ConfigurationError("declare_personal needs an event type and at least one field", field="fields")
    for path in paths:
        _check_path(path)
    declared = PersonalEvent(event_type, paths, subject)
    _EVENTS[event_type] = declared
    return declared


def declare_personal_column(
    table: str,
    column: str,
    subject_column: str,
    *,
    fields: tuple[str, ...] = (),
    where: Mapping[str, str] | None = None,
    erased: str | float = ERASED,
    prefix: str = "",
) -> PersonalColumn:
    """Declare `table.column` personal to the subject ``prefix + subject_column`` names (idempotent)."""
    filters = tuple(sorted((where or {}).items()))
    for name in (table, column, subject_column, *(k for k, _ in filters)):
        if not _NAME.match(name):
            raise ConfigurationError(f"{name!r} is not a plain table or column name (a-z, 0-9, '_')", field="table")
    for path in fields:
        _check_path(path)
    declared = PersonalColumn(table, column, subject_column, tuple(fields), filters, erased, prefix)
    _COLUMNS[(table, column, filters)] = declared
    return declared


def declare_personal_copies(name: str, drop: Copies) -> None:
    """Declare a holder of copies outside the tables (a cache, a graph); ``erase`` calls `drop` after committing."""
    _COPIES[name] = drop


def personal_event(event_type: str) -> PersonalEvent | None:
    """The declaration of `event_type`, or None when its events hold no personal fields."""
    return _EVENTS.get(event_type)


def personal_columns() -> list[PersonalColumn]:
    """Every declared personal column."""
    _load_declarations()
    return list(_COLUMNS.values())


def personal_copies() -> dict[str, Copies]:
    """Every declared holder of copies, by name."""
    _load_declarations()
    return dict(_COPIES)


def _check_path(path: str) -> None:
    if not _PATH.match(path):
        raise ConfigurationError(
            f"personal field {path!r} must be a dotted path of names (and '*' for list items), e.g. 'after.email'",
            field="fields",
        )


def _load_declarations() -> None:
    """Import every system's declarations (they live beside the systems; importing them registers them)."""
    if _LOADED:
        return
    _LOADED.append(True)
    import importlib
    import pkgutil

    import datastrata.systems as systems

    for module in pkgutil.iter_modules(systems.__path__):
        if module.ispkg:
            try:
                importlib.import_module(f"datastrata.systems.{module.name}.personal")
            except ModuleNotFoundError as exc:
                if exc.name != f"datastrata.systems.{module.name}.personal":
                    raise


def load_declarations() -> None:
    """Make sure every system's personal-data declarations are registered (sealing depends on them)."""
    _load_declarations()


# ---- paths -------------------------------------------------------------------------------------------------


def pick(payload: Any, path: str) -> list[tuple[Any, str | int]]:
    """The containers and keys `path` reaches in `payload` (only those present)."""
    found: list[tuple[Any, str | int]] = []
    _walk(payload, path.split("."), found)
    return found


def _walk(node: Any, steps: list[str], found: list[tuple[Any, str | int]]) -> None:
    step, rest = steps[0], steps[1:]
    if step == "*":
        if isinstance(node, list):
            for i in range(len(node)):
                if rest:
                    _walk(node[i], rest, found)
                else:
                    found.append((node, i))
        return
    if isinstance(node, dict) and step in node:
        if rest:
            _walk(node[step], rest, found)
        else:
            found.append((node, step))


def masked(value: Any, marker: str) -> Any:
    """`value` with every leaf replaced by `marker`, keeping its shape (keys, list lengths, nulls)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: masked(v, marker) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, marker) for v in value]
    return marker
