"""Cross-field checks a schema cannot express: references, uniqueness, per-type constraint fields."""

from __future__ import annotations

from datastrata.design.naming import parse_attribute, snake
from datastrata.design.profile import resolve_entity
from datastrata.design.spec import Constraint, Context, Entity, Operation, Spec
from datastrata.design.spec_types import ATTRIBUTE_TYPES

Problem = tuple[str, str]

_TYPES = ", ".join(ATTRIBUTE_TYPES)


def problems(spec: Spec) -> list[Problem]:
    """Every (path, message) the spec gets wrong beyond its shape, in document order."""
    found: list[Problem] = []
    seen_contexts: dict[str, int] = {}
    names = {snake(context.name) for context in spec.contexts}
    for index, context in enumerate(spec.contexts):
        path = f"contexts[{index}]"
        key = snake(context.name)
        if key in seen_contexts:
            found.append(
                (
                    f"{path}.name",
                    f"{context.name!r} is already the name of contexts[{seen_contexts[key]}]; "
                    "give every bounded context a distinct name",
                )
            )
        seen_contexts.setdefault(key, index)
        found.extend(_context_problems(path, context, names))
    return found


def _context_problems(path: str, context: Context, context_names: set[str]) -> list[Problem]:
    found: list[Problem] = []
    entities: dict[str, Entity] = {}
    for e_index, entity in enumerate(context.entities):
        e_path = f"{path}.entities[{e_index}]"
        if not entity.name.replace("_", "").isalnum() or not entity.name[0].isalpha():
            found.append((f"{e_path}.name", f"{entity.name!r} must be a word like Order or MenuItem"))
        if entity.name in entities:
            found.append((f"{e_path}.name", f"{entity.name!r} is declared twice in this context; merge them"))
        entities.setdefault(entity.name, entity)
        found.extend(_entity_problems(e_path, entity))
    for o_index, operation in enumerate(context.operations):
        found.extend(_operation_problems(f"{path}.operations[{o_index}]", operation, context, entities))
    consistency_seen = False
    for c_index, constraint in enumerate(context.constraints):
        c_path = f"{path}.constraints[{c_index}]"
        if constraint.type == "consistency":
            if consistency_seen:
                found.append((f"{c_path}.type", "only one consistency constraint per context; keep the strictest"))
            consistency_seen = True
        found.extend(_constraint_problems(c_path, constraint, context, entities, context_names))
    for r_index, relationship in enumerate(context.relationships):
        r_path = f"{path}.relationships[{r_index}]"
        for field, value in (("from", relationship.from_), ("to", relationship.to)):
            if not value.replace("_", "").isalnum() or not value[0].isalpha():
                found.append((f"{r_path}.{field}", f"{value!r} must be an entity name like User or Order"))
        for p_index, prop in enumerate(relationship.properties):
            if parse_attribute(prop) is None:
                found.append((f"{r_path}.properties[{p_index}]", _bad_attribute(prop)))
    return found


def _entity_problems(path: str, entity: Entity) -> list[Problem]:
    found: list[Problem] = []
    seen: set[str] = set()
    for a_index, text in enumerate(entity.attributes):
        attribute = parse_attribute(text)
        if attribute is None:
            found.append((f"{path}.attributes[{a_index}]", _bad_attribute(text)))
            continue
        if attribute.name in seen:
            found.append((f"{path}.attributes[{a_index}]", f"{attribute.name!r} is listed twice; remove one"))
        seen.add(attribute.name)
    if entity.key is not None and entity.attributes and entity.key.lower() not in seen:
        found.append(
            (f"{path}.key", f"{entity.key!r} is not one of the attributes; add it to {path}.attributes or fix the name")
        )
    return found


def _operation_problems(
    path: str, operation: Operation, context: Context, entities: dict[str, Entity]
) -> list[Problem]:
    found: list[Problem] = []
    if operation.frequency is None and operation.rate_per_s is None:
        found.append(
            (
                f"{path}.frequency",
                "missing; give frequency (very-high, high, medium, low) or rate_per_s (operations per second)",
            )
        )
    entity: Entity | None = resolve_entity(operation, context)
    if operation.entity is not None:
        entity = entities.get(operation.entity)
        if entity is None:
            found.append(
                (
                    f"{path}.entity",
                    f"{operation.entity!r} is not an entity of context {context.name!r}; "
                    f"use one of {', '.join(entities)}",
                )
            )
    if entity is not None and entity.attributes:
        known = {attr.name for attr in map(parse_attribute, entity.attributes) if attr is not None}
        for b_index, name in enumerate(operation.by):
            if name.lower() not in known:
                found.append(
                    (
                        f"{path}.by[{b_index}]",
                        f"{name!r} is not an attribute of {entity.name}; add it to its attributes or fix the name",
                    )
                )
    return found


def _constraint_problems(
    path: str, constraint: Constraint, context: Context, entities: dict[str, Entity], context_names: set[str]
) -> list[Problem]:
    found: list[Problem] = []
    kind = constraint.type
    if kind == "consistency" and constraint.level is None:
        found.append(
            (f"{path}.level", "missing; a consistency constraint needs level: strong, eventual, session or causal")
        )
    if kind != "consistency" and constraint.level is not None:
        found.append((f"{path}.level", f"only consistency constraints take a level; this one is {kind!r}"))
    if kind == "retention" and constraint.years is None:
        found.append((f"{path}.years", "missing; a retention constraint needs years (how long data must be kept)"))
    if kind == "latency" and constraint.ms is None:
        found.append((f"{path}.ms", "missing; a latency constraint needs ms (the end-to-end budget in milliseconds)"))
    for x_index, other in enumerate(constraint.contexts):
        if snake(other) not in context_names:
            found.append(
                (
                    f"{path}.contexts[{x_index}]",
                    f"{other!r} is not a context of this spec; name a context declared under contexts",
                )
            )
        elif snake(other) == snake(context.name):
            found.append((f"{path}.contexts[{x_index}]", "list the other contexts involved, not this one"))
    if constraint.entity is not None and constraint.entity not in entities:
        found.append(
            (
                f"{path}.entity",
                f"{constraint.entity!r} is not an entity of context {context.name!r}; use one of {', '.join(entities)}",
            )
        )
    if constraint.entity is not None and constraint.entity in entities and entities[constraint.entity].attributes:
        known = {a.name for a in map(parse_attribute, entities[constraint.entity].attributes) if a is not None}
        for a_index, name in enumerate(constraint.attributes):
            if name.lower() not in known:
                found.append(
                    (
                        f"{path}.attributes[{a_index}]",
                        f"{name!r} is not an attribute of {constraint.entity}; add it or fix the name",
                    )
                )
    return found


def _bad_attribute(text: str) -> str:
    return f"{text!r} is not an attribute; write name or name:type with type one of {_TYPES}"
