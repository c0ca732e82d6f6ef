"""The content platform's rules (the article's section 4): lifecycle, placement, renditions, viral and cost signals.

Pure functions of their inputs; the service reads the store and calls them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from datastrata.core.errors import RuleViolation, ValidationError
from datastrata.core.tenancy import check_region
from datastrata.core.validation import bounded_int, bounded_list, bounded_text, decimal_value

#: The bounded context of the platform: an item's events are the stream ``content-<item id>``.
CONTEXT = "content"
PRODUCTION, PUBLISHED, ARCHIVED = "production", "published", "archived"
STAGES = (PRODUCTION, PUBLISHED, ARCHIVED)
#: The lifecycle: a published item is archived when its rights lapse and published again when they return.
TRANSITIONS = {PRODUCTION: (PUBLISHED,), PUBLISHED: (ARCHIVED,), ARCHIVED: (PUBLISHED,)}
#: The command that makes each transition (errors name it).
COMMAND = {PUBLISHED: "publish", ARCHIVED: "archive"}
_ITEM = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
#: The largest budget an item records ($ with cents).
MAX_BUDGET_DIGITS = 14
#: The most regions an item may be restricted to.
MAX_REGIONS = 50
#: Viral thresholds (``handle_viral_content_scaling``): all three must be exceeded.
VIRAL_VIEWS_PER_HOUR = 100_000
VIRAL_GROWTH = Decimal(5)
VIRAL_REGIONS = 10
#: Cost signals (``cost_optimization_analysis``): views a day below which an item belongs in the archive class,
#: above which it deserves premium, and what each does to the item's monthly cost.
COLD_VIEWS_PER_DAY = Decimal(1)
HOT_VIEWS_PER_DAY = Decimal(1000)
ARCHIVE_SAVING = Decimal("0.8")
UPGRADE_EXTRA = Decimal("0.3")
#: The window the cost signals average views over.
USAGE_DAYS = 30


@dataclass(frozen=True, slots=True)
class Rendition:
    """One rendition a published item is offered in (a record: no transcoding happens here)."""

    resolution: str
    bitrate_kbps: int
    target: str


#: The four renditions publishing records (``video_processing_pipeline``).
RENDITIONS = (
    Rendition("4K", 15000, "premium"),
    Rendition("1080p", 5000, "standard"),
    Rendition("720p", 2500, "mobile"),
    Rendition("480p", 1000, "low_bandwidth"),
)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where new content goes (``intelligent_content_placement``): its tier, storage class and replication."""

    tier: str
    storage_class: str
    replication: str


PREMIUM = Placement("premium", "STANDARD", "cross_region")
STANDARD = Placement("standard", "STANDARD", "same_region")
BASIC = Placement("basic", "STANDARD_IA", "none")
PLACEMENTS = {p.tier: p for p in (PREMIUM, STANDARD, BASIC)}


def place(budget: Decimal, expected_views: int) -> Placement:
    """Budget over $100M → premium; else over 10M expected views → standard; else basic (infrequent access)."""
    if budget > 100_000_000:
        return PREMIUM
    if expected_views > 10_000_000:
        return STANDARD
    return BASIC


@dataclass(frozen=True, slots=True)
class ViewMetrics:
    """An item's audience in its latest hour: views, growth over the hour before, and how many regions watched."""

    views_per_hour: int
    #: Views of the latest hour over those of the hour before; None when the hour before had none (unbounded).
    growth_rate: Decimal | None
    regions: int

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-friendly dict."""
        growth = None if self.growth_rate is None else str(self.growth_rate.quantize(Decimal("0.01")))
        return {"views_per_hour": self.views_per_hour, "growth_rate": growth, "regions": self.regions}


def metrics(latest: dict[str, int], previous: int) -> ViewMetrics:
    """The metrics of an hour with `latest` views per region after an hour of `previous` views."""
    total = sum(latest.values())
    growth = None if previous == 0 else Decimal(total) / Decimal(previous)
    return ViewMetrics(total, growth, sum(1 for v in latest.values() if v > 0))


def is_viral(m: ViewMetrics) -> bool:
    """More than 100,000 views an hour, growing more than 5 times and spread over more than 10 regions."""
    growing = m.growth_rate is None or m.growth_rate > VIRAL_GROWTH
    return m.views_per_hour > VIRAL_VIEWS_PER_HOUR and growing and m.regions > VIRAL_REGIONS


@dataclass(frozen=True, slots=True)
class Recommendation:
    """What the cost analysis suggests for one item, and what it saves (negative: costs more) a month."""

    item_id: str
    action: str
    views_per_day: Decimal
    current_usd: Decimal
    change_usd: Decimal

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-friendly dict (amounts as decimal text)."""
        return {
            "item_id": self.item_id,
            "action": self.action,
            "views_per_day": str(self.views_per_day.quantize(Decimal("0.01"))),
            "current_usd": str(self.current_usd.quantize(Decimal("0.0001"))),
            "change_usd": str(self.change_usd.quantize(Decimal("0.0001"))),
        }


def recommend(item_id: str, views_per_day: Decimal, current_usd: Decimal) -> Recommendation | None:
    """Under 1 view a day → archive (saves ~80 %); over 1,000 → upgrade to premium (+30 %); else nothing."""
    if views_per_day < COLD_VIEWS_PER_DAY:
        return Recommendation(item_id, "move_to_archive", views_per_day, current_usd, -current_usd * ARCHIVE_SAVING)
    if views_per_day > HOT_VIEWS_PER_DAY:
        return Recommendation(item_id, "upgrade_to_premium", views_per_day, current_usd, current_usd * UPGRADE_EXTRA)
    return None


def check_transition(item_id: str, stage: str, to: str) -> None:
    """Refuse a lifecycle step the lifecycle does not have, naming the item's stage and what it allows."""
    if to not in TRANSITIONS.get(stage, ()):
        allowed = " or ".join(COMMAND[s] for s in TRANSITIONS[stage])
        raise RuleViolation(
            f"item {item_id!r} is {stage}; it cannot be {to} from there (it can: {allowed})", field="stage"
        )


#: The one item id no item may take: ``content-reviews`` is the stream of the studio's tier review decisions.
RESERVED_ITEM_ID = "reviews"


def check_item_id(value: object, *, field: str = "item_id") -> str:
    """Refuse a malformed item id."""
    if not isinstance(value, str) or not _ITEM.match(value):
        raise ValidationError(
            f"{field} must be 1-100 of a-z, 0-9, '_' or '-', starting with a letter or digit; got {value!r}",
            field=field,
        )
    if value == RESERVED_ITEM_ID:
        raise ValidationError(
            f"{field} {value!r} is reserved (the stream content-{value} holds the tier review decisions); "
            "choose another id",
            field=field,
        )
    return value


def check_title(value: object) -> str:
    """Refuse an empty or overlong title."""
    return bounded_text(value, field="title", max_length=200)


def check_budget(value: object) -> Decimal:
    """A production budget in dollars (≥ 0, cents at most)."""
    return decimal_value(value, field="budget", max_digits=MAX_BUDGET_DIGITS, max_decimals=2, minimum=Decimal(0))


def check_views(value: object, *, field: str = "expected_views") -> int:
    """A count of views (0 up to 10¹⁵)."""
    return bounded_int(value, field=field, minimum=0, maximum=10**15)


def check_regions(values: Iterable[str] | None) -> tuple[str, ...]:
    """The regions an item is restricted to, sorted and without repeats (none: visible everywhere)."""
    if values is None:
        return ()
    items = bounded_list(list(values), field="regions", max_items=MAX_REGIONS)
    checked = []
    for i, value in enumerate(items):
        if value == "*":
            raise ValidationError(
                f"regions[{i}]: '*' is not a region; leave regions empty for everywhere", field="regions"
            )
        try:
            checked.append(check_region(value))
        except ValidationError as exc:
            raise ValidationError(f"regions[{i}]: {exc}", field="regions") from None
    return tuple(sorted(set(checked)))


def regions_text(regions: Sequence[str]) -> str:
    """The stored form of a region list (``''``: everywhere)."""
    return ",".join(regions)
