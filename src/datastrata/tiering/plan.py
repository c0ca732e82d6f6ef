"""What a tiering run would do, and why: a pure function of a policy, an inventory and the time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from datastrata.core.clock import ensure_utc
from datastrata.tiering.policy import Policy, Rule
from datastrata.tiering.tiers import Kind, Tier, show_age


@dataclass(frozen=True, slots=True)
class Item:
    """One piece of placed data: a day (an hour, in a table with a warm table) of a table's rows, or one object."""

    dataset: str
    key: str
    tier: Tier
    #: The newest data time in it (rows: the end of its day or hour; objects: when written): age counts from here.
    newest: datetime
    rows: int = 0
    bytes: int = 0
    stage: str | None = None
    #: When it entered its current tier (minimum storage durations count from here); None: unknown.
    placed_at: datetime | None = None
    #: Segments: the stream's last position in the log and the event types it holds.
    last_position: int = 0
    types: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-friendly dict."""
        return {
            "dataset": self.dataset,
            "key": self.key,
            "tier": self.tier.value,
            "newest": self.newest.isoformat(),
            "rows": self.rows,
            "bytes": self.bytes,
            "stage": self.stage,
        }


@dataclass(frozen=True, slots=True)
class Move:
    """An item a run would move to `to`, by `rule`."""

    item: Item
    to: Tier
    rule: Rule
    reason: str

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-friendly dict."""
        return {**self.item.to_dict(), "to": self.to.value, "rule": self.rule.describe(), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Held:
    """An item a rule would move but that stays, and why (the aggregate replacing it does not exist yet)."""

    item: Item
    to: Tier
    reason: str

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-friendly dict."""
        return {**self.item.to_dict(), "to": self.to.value, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Reader:
    """A follower of the event log as a plan sees it: its checkpoint and the event types it reads (None: all)."""

    name: str
    position: int
    event_types: frozenset[str] | None
    #: It must stay rebuildable from the whole log: no policy may expire streams of its types.
    full_log: bool = False

    def reads(self, types: frozenset[str] | None) -> bool:
        """True when it reads any of `types` (None: unknown, so possibly any)."""
        return self.event_types is None or types is None or bool(self.event_types & types)


@dataclass(frozen=True, slots=True)
class Plan:
    """A run's moves in order (oldest data first), what is held back, and how many items stay as they are."""

    policy: str
    at: datetime
    moves: tuple[Move, ...]
    held: tuple[Held, ...]
    unchanged: int

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-friendly dict."""
        return {
            "policy": self.policy,
            "at": self.at.isoformat(),
            "moves": [m.to_dict() for m in self.moves],
            "held": [h.to_dict() for h in self.held],
            "unchanged": self.unchanged,
        }


def plan(policy: Policy, inventory: Iterable[Item], now: datetime, *, readers: Sequence[Reader] = ()) -> Plan:
    """Return what a run at `now` would move (and hold back), item by item, with the rule and the reason.

    A closed stream leaves the online log only once every reader of its event types in `readers` has passed its
    last position; until then its move is held, naming the reader.
    """
    now = ensure_utc(now, field="now")
    items = sorted(inventory, key=lambda i: (i.newest, i.dataset, i.key))
    present = {(i.dataset, i.key) for i in items if i.tier is not Tier.EXPIRED}
    warming = {(i.dataset, i.key[:10]) for i in items if i.tier is Tier.HOT and "T" in i.key}  # days with hot hours
    moves: list[Move] = []
    held: list[Held] = []
    unchanged = 0
    for item in items:
        dataset = policy.datasets.get(item.dataset)
        rule = None if dataset is None else target(dataset.rules, item, now)
        if dataset is None or rule is None or rule.to.rank <= item.tier.rank:
            unchanged += 1
            continue
        age = now - item.newest
        reason = f"age {show_age_floor(age)} ≥ {show_age(rule.after)}"
        if dataset.kind is Kind.SEGMENTS:
            reason = f"no event for {show_age_floor(age)} ≥ {show_age(rule.after)}"
        if rule.stages is not None:
            reason += f" and stage {item.stage}"
        to = rule.to
        if dataset.warm_table and item.tier is Tier.HOT and to.rank > Tier.WARM.rank:
            to, reason = Tier.WARM, f"{reason}; via its warm table first"  # rows leave hot for the warm table
        waiting = _missing_aggregate(policy, item, rule, present) if to is rule.to else ""
        waiting = waiting or _unread(policy, item, readers)
        if dataset.warm_table and item.tier is Tier.WARM and (item.dataset, item.key) in warming:
            waiting = "kept: hours of this day are still hot; the day leaves whole once they reach its warm table"
        if waiting:
            held.append(Held(item, to, waiting))
            continue
        moves.append(Move(item, to, rule, reason))
    return Plan(policy.name, now, tuple(moves), tuple(held), unchanged)


def target(rules: Sequence[Rule], item: Item, now: datetime) -> Rule | None:
    """The coldest rule that applies to `item` at `now` (ties: the first declared), or None."""
    age = now - item.newest
    found: Rule | None = None
    for rule in rules:
        if age >= rule.after and rule.matches(item.stage) and (found is None or rule.to.rank > found.to.rank):
            found = rule
    return found


def show_age_floor(age: timedelta) -> str:
    """Render an age in whole days (or hours under a day) for a reason."""
    return f"{age.days}d" if age.days else f"{int(age.total_seconds() // 3600)}h"


def _unread(policy: Policy, item: Item, readers: Sequence[Reader]) -> str:
    if policy.datasets[item.dataset].kind is not Kind.SEGMENTS or item.tier is not Tier.HOT:
        return ""
    for reader in readers:
        if reader.position < item.last_position and reader.reads(item.types):
            return (
                f"kept: follower {reader.name!r} is at position {reader.position}, before the stream's last "
                f"position {item.last_position}; a stream leaves the online log only once every follower of its "
                "events has passed it"
            )
    return ""


def _missing_aggregate(policy: Policy, item: Item, rule: Rule, present: set[tuple[str, str]]) -> str:
    if rule.to is not Tier.EXPIRED or policy.datasets[item.dataset].kind is not Kind.ROWS:
        return ""
    for aggregate in policy.datasets.values():
        if aggregate.aggregates == item.dataset and (aggregate.name, item.key) not in present:
            return (
                f"kept: the aggregate {aggregate.name!r} has no data for {item.key} yet, and raw rows are deleted "
                "only once the aggregate replacing them exists"
            )
    return ""
