"""Selection per context: runs the primary-store, strategy, placement and technology rules in order."""

from __future__ import annotations

from collections.abc import Sequence

from datastrata.design import placement, strategy_rules
from datastrata.design.choices import ContextSelection, Draft, PrimaryChoice
from datastrata.design.cross_context import CrossContext, cross_context
from datastrata.design.primary import choose_primary
from datastrata.design.profile import ContextProfile
from datastrata.design.spec import Spec
from datastrata.design.technologies import technologies


def select(spec: Spec, profiles: Sequence[ContextProfile]) -> tuple[ContextSelection, ...]:
    """Select strategies and technologies for every context of a spec."""
    primaries = [choose_primary(profile) for profile in profiles]
    links = cross_context(spec, profiles, primaries)
    return tuple(
        _select_one(spec, profile, primary, link)
        for profile, primary, link in zip(profiles, primaries, links, strict=True)
    )


def _select_one(spec: Spec, profile: ContextProfile, primary: PrimaryChoice, links: CrossContext) -> ContextSelection:
    # The order of the rules is the order of the reasons in the report.
    offering = primary.offering
    draft = Draft()
    strategy_rules.change_frequency(profile, draft)
    strategy_rules.volume(profile, offering, draft)
    strategy_rules.session_replicas(profile, offering, draft)
    placement.tiering(profile, draft)
    tenancy = placement.tenancy(spec, profile, draft)
    sagas = strategy_rules.service_boundaries(profile, offering, links, draft)
    strategy_rules.history_and_masters(profile, links, draft)
    strategy_rules.graph_queries(profile, draft)
    shard_key = placement.shard_key(profile, draft)
    policy = placement.tiering_policy(profile, offering) if "tiering" in draft.strategies else None
    return ContextSelection(
        profile=profile,
        primary=offering,
        strategies=draft.ordered(),
        technologies=technologies(profile, primary, draft, policy, bool(sagas)),
        tenancy=tenancy,
        policy=policy,
        shard_key=shard_key,
        sagas=tuple(sagas),
        warnings=tuple(draft.warnings),
    )
