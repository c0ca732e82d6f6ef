"""Cross-context analysis: which contexts differ, which share atomicity (sagas), and which share master data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from datastrata.design.choices import PrimaryChoice
from datastrata.design.naming import singular, snake
from datastrata.design.profile import ConstraintFacts, ContextProfile, evidence
from datastrata.design.reasons import Evidence
from datastrata.design.spec import Spec

#: An atomicity constraint reaching other contexts: the constraint, the partners, and whether they were inferred.
Partnership = tuple[ConstraintFacts, tuple[str, ...], bool]


@dataclass(frozen=True, slots=True)
class CrossContext:
    """What one context's selection needs to know about the others."""

    differs: bool
    others: tuple[str, ...]
    partners: tuple[Partnership, ...]
    incoming: tuple[tuple[str, Evidence], ...]
    masters: tuple[tuple[str, list[Evidence]], ...]


def cross_context(
    spec: Spec, profiles: Sequence[ContextProfile], primaries: Sequence[PrimaryChoice]
) -> tuple[CrossContext, ...]:
    """For every context: whether the contexts' (primary family, consistency) differ, its saga links and masters."""
    signatures = {(primary.offering.family, p.consistency) for p, primary in zip(profiles, primaries, strict=True)}
    differs = len(signatures) > 1 and len(profiles) > 1
    partners = [atomic_partners(spec, profile) for profile in profiles]
    incoming: dict[str, list[tuple[str, Evidence]]] = {}
    for profile, found in zip(profiles, partners, strict=True):
        for facts, names, _ in found:
            for name in names:
                incoming.setdefault(snake(name), []).append((profile.name, facts.evidence))
    masters = shared_masters(spec, profiles)
    return tuple(
        CrossContext(
            differs=differs,
            others=tuple(p.name for p in profiles if p.index != profile.index),
            partners=tuple(partners[i]),
            incoming=tuple(incoming.get(snake(profile.name), [])),
            masters=tuple(masters.get(i, [])),
        )
        for i, profile in enumerate(profiles)
    )


def atomic_partners(spec: Spec, profile: ContextProfile) -> list[Partnership]:
    """Atomicity constraints that reach other contexts: named, or inferred from the detail text."""
    others = {snake(c.name): c.name for c in spec.contexts if snake(c.name) != snake(profile.name)}
    owners: dict[str, str] = {}
    for context in spec.contexts:
        if snake(context.name) == snake(profile.name):
            continue
        for entity in context.entities:
            owners.setdefault(snake(entity.name), context.name)
    local = {snake(entity.name) for entity in profile.context.entities}
    found: list[Partnership] = []
    for facts in profile.of_type("atomicity"):
        constraint = facts.constraint
        if constraint.contexts:
            found.append((facts, tuple(constraint.contexts), False))
            continue
        words = {singular(word) for word in snake(constraint.detail or "").split("_")}
        named: list[str] = []
        for key, name in others.items():
            if singular(key) in words and name not in named:
                named.append(name)
        for entity_key_, owner in owners.items():
            if entity_key_ not in local and singular(entity_key_) in words and owner not in named:
                named.append(owner)
        if named:
            found.append((facts, tuple(named), True))
    return found


def shared_masters(spec: Spec, profiles: Sequence[ContextProfile]) -> dict[int, list[tuple[str, list[Evidence]]]]:
    """Master entities owned by one context and referred to by relationships in two or more others."""
    found: dict[int, list[tuple[str, list[Evidence]]]] = {}
    for owner in profiles:
        for entity in owner.context.entities:
            if entity.kind != "master":
                continue
            uses: list[Evidence] = []
            for other in profiles:
                if other.index == owner.index:
                    continue
                for r_index, rel in enumerate(other.context.relationships):
                    if entity.name in (rel.from_, rel.to):
                        path = f"{other.path}.relationships[{r_index}]"
                        uses.append(evidence(spec, path, f"{rel.from_} {rel.verb} {rel.to} (context {other.name})"))
            contexts = {use.text.rsplit("(context ", 1)[1] for use in uses}
            if len(contexts) >= 2:
                found.setdefault(owner.index, []).append((entity.name, uses))
    return found
