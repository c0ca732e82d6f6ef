"""Tour step: three studios on the three isolation models, grants across them, a viral hour whose tier review is
accepted and moves its studio live, the storage lifecycle and each studio's cost report."""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from datastrata.core.clock import FrozenClock
from datastrata.core.errors import NotFound
from datastrata.core.tenancy import tenant
from datastrata.runtime import Runtime
from datastrata.systems.content.keys import footage_owner
from datastrata.systems.content.service import ContentService
from datastrata.tenancy.catalogue import catalogue_of
from datastrata.tenancy.secrets import KEY_VARIABLE

START = datetime(2025, 6, 2, 9, tzinfo=UTC)
#: The studios and the tier each starts in: shared, dedicated storage, dedicated infrastructure.
STUDIOS = {"indie-creator": "indie", "hbo-max": "professional", "disney-studio": "enterprise"}
_WHERE = {
    "shared": "rows beside the others' in the shared store",
    "dedicated-storage": "a store of its own beside the shared one",
    "dedicated-infrastructure": "its own store, graph and objects in a folder of their own",
}


def tour_step(runtime: Runtime, say: Callable[[str], None]) -> None:
    """Studios on three models upload, publish and grant; a viral hour moves one studio; lifecycle and costs run."""
    clock = FrozenClock(START)
    with (
        demo_platform_key(),
        Runtime.open(runtime.settings, clock=clock) as frozen,  # the same store, on a clock the tour moves
    ):
        _story(ContentService(frozen), clock, say)


@contextlib.contextmanager
def demo_platform_key() -> Iterator[None]:
    """A platform key of the tour's own, for its temporary store only (never the caller's), removed afterwards."""
    before = os.environ.get(KEY_VARIABLE)
    os.environ[KEY_VARIABLE] = base64.urlsafe_b64encode(os.urandom(32)).decode()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(KEY_VARIABLE, None)
        else:
            os.environ[KEY_VARIABLE] = before


def _story(svc: ContentService, clock: FrozenClock, say: Callable[[str], None]) -> None:
    indie, hbo, disney = STUDIOS
    catalogue = catalogue_of(svc.runtime)
    for studio, tier_name in STUDIOS.items():
        added = catalogue.add(studio, tier_name)
        with tenant(studio):
            lives = svc.runtime.locate(svc.scope()).name
        say(f"{studio}: {tier_name}, {added.model}: {_WHERE[added.model]} (location {lives})")
    epic, series, short = "galaxy-epic", "asia-originals", "festival-short"
    with tenant(disney):
        placed = svc.upload(epic, "Galaxy Epic", b"4K RAW" * 200, budget="250000000", expected_views=80_000_000)
        say(f"{disney}: {epic} placed {placed.events[0].payload['placement']} ({_place(placed.events[0].payload)})")
        svc.publish(epic)
        svc.upload(
            f"{epic}-dailies", "Galaxy Epic dailies", b"dailies" * 200, budget="250000000"
        )  # stays in production
        say(
            f"  published with {len(svc.renditions(epic))} renditions: "
            + ", ".join(f"{r['resolution']} {r['bitrate']}" for r in svc.renditions(epic))
        )
    with tenant(hbo):
        placed = svc.upload(
            series, "Asia Originals", b"footage" * 100, expected_views=2_000_000, regions=["asia"], caller_region="asia"
        )
        say(
            f"{hbo}: {series} placed {placed.events[0].payload['placement']} "
            f"({_place(placed.events[0].payload)}), visible in asia only"
        )
        try:
            svc.item(series, caller_region="europe")
        except NotFound:
            say(
                "  from europe it is not there at all (404); from asia: " + svc.item(series, caller_region="asia").stage
            )
        grant = svc.grant(indie, series, "footage:write", clock() + timedelta(days=30))
        svc.grant(disney, series, "status:read", clock() + timedelta(days=30))
        say(f"  grants: {indie} may write its footage, {disney} may read its status only")
    with tenant(indie):
        svc.upload(short, "Festival Short", b"short film" * 50, budget="20000")
        svc.publish(short)
        done = svc.granted_replace_footage(hbo, series, b"graded cut" * 100, caller_region="asia")
        say(
            f"{indie} stored footage v{done.events[0].payload['version']} of {hbo}'s {series} "
            f"(in {hbo}'s location, under its scope)"
        )
    with tenant(disney):
        say(f"{disney} reads the status: stage {svc.granted_status(hbo, series, caller_region='asia')['stage']}")
        try:
            svc.granted_footage(hbo, series, caller_region="asia")
        except NotFound:
            say("  but not the footage: 404, as if it did not exist")
    with tenant(hbo):
        svc.revoke(grant.id)
        say(f"{hbo} revoked {indie}'s grant; audit: " + ", ".join(a["action"] for a in svc.grants.audit(hbo, grant.id)))
        svc.publish(series, caller_region="asia")
    _viral(svc, clock, indie, short, say)
    clock.advance(timedelta(days=120))
    moved = svc.lifecycle_job().result["moved"]
    say(
        f"120 days later the lifecycle job made {len(moved)} storage move(s): "
        + ", ".join(f"{_owned(m['item'])} → {m['to_class']}" for m in moved)
    )
    for studio in STUDIOS:
        with tenant(studio):
            r = svc.cost().to_dict()
        say(
            f"cost of {studio} ({r['tier']}, {r['model']}): {r['monthly_usd']} USD a month (fee {r['tier_fee']}, "
            f"storage {r['storage_usd']}); {len(r['recommendations'])} recommendation(s), "
            f"saving {r['potential_saving_usd']}"
        )


def _viral(svc: ContentService, clock: FrozenClock, studio: str, item_id: str, say: Callable[[str], None]) -> None:
    """A viral hour flags `studio` for a tier review; accepting it changes its tier and moves it live."""
    with tenant(studio):
        hour = clock().replace(minute=0) + timedelta(hours=1)
        clock.set(hour + timedelta(hours=1, minutes=5))
        svc.record_views(item_id, hour, {"eu": 10_000})
        spread = {f"region-{i:02d}": 12_000 for i in range(12)}
        viral = svc.record_views(item_id, hour + timedelta(hours=1), spread)
        went = next(e for e in viral.events if e.type == "ContentWentViral")
        say(
            f"{studio}'s {item_id} goes viral: {went.payload['metrics']} → upgraded {went.payload['from']} → "
            f"{went.payload['placement']}"
        )
        review = svc.reviews()[0]
        accepted = svc.accept_review(review["review_id"], grace=0)  # the tour's store: no other process to wait for
        assert accepted.job is not None
        job = svc.tier_reviews.wait(accepted.job)
        shown = svc.reviews()[0]
        seconds = (job.result or {}).get("timings", {}).get("seconds", {})
        say(
            f"  tier review {review['from']} → {review['to']} accepted: tier {shown['move']['tier']}, move "
            f"{shown['move']['id']} {shown['move']['state']} in {sum(seconds.values()):.1f} s "
            f"(its writes paused {seconds.get('delta', 0) + seconds.get('verify', 0):.2f} s)"
        )
        here = svc.runtime.placement.locate(svc.scope(item_id))
        say(
            f"  {studio} now lives in {here.name}; {item_id} reads there: {svc.item(item_id).stage}, "
            f"its footage {len(svc.footage(item_id))} bytes"
        )


def _owned(key: object) -> str:
    owner = footage_owner(str(key))
    return str(key) if owner is None else f"{owner[0]}'s {owner[1]}"


def _place(payload: dict[str, object] | object) -> str:
    data = payload if isinstance(payload, dict) else {}
    return f"{data.get('storage_class')}, replication {data.get('replication')}"
