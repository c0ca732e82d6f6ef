"""Tour step: three studios, an Asia-only item, grants across studios, a viral hour, a tier review, the cost report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from datastrata.core.clock import FrozenClock
from datastrata.core.errors import NotFound
from datastrata.core.tenancy import tenant
from datastrata.runtime import Runtime
from datastrata.systems.content.service import ContentService

START = datetime(2025, 6, 2, 9, tzinfo=UTC)
STUDIOS = ("disney-studio", "hbo-max", "indie-creator")


def tour_step(runtime: Runtime, say: Callable[[str], None]) -> None:
    """Studios upload, publish and grant; a viral hour upgrades an item; the lifecycle and the cost report run."""
    clock = FrozenClock(START)
    with Runtime.open(runtime.settings, clock=clock) as frozen:  # the same store, on a clock the tour moves
        _story(ContentService(frozen), clock, say)


def _story(svc: ContentService, clock: FrozenClock, say: Callable[[str], None]) -> None:
    disney, hbo, indie = STUDIOS
    suffix = f"{int(datetime.now(UTC).timestamp())}"  # the tour may run twice on one store
    epic, series, short = f"epic-{suffix}", f"series-{suffix}", f"short-{suffix}"
    with tenant(disney):
        placed = svc.upload(epic, "Galaxy Epic", b"4K RAW" * 200, budget="250000000", expected_views=80_000_000)
        say(f"{disney}: {epic} placed {placed.events[0].payload['placement']} ({_place(placed.events[0].payload)})")
        svc.publish(epic)
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
        svc.upload(short, "Festival Short", b"short film", budget="20000")
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
        hour = clock().replace(minute=0) + timedelta(hours=1)
        clock.set(hour + timedelta(hours=1, minutes=5))
        svc.record_views(series, hour, {"asia": 10_000}, caller_region="asia")
        spread = {f"region-{i:02d}": 12_000 for i in range(12)}
        viral = svc.record_views(series, hour + timedelta(hours=1), spread, caller_region="asia")
        went = next(e for e in viral.events if e.type == "ContentWentViral")
        say(
            f"  a viral hour: {went.payload['metrics']} → upgraded {went.payload['from']} → {went.payload['placement']}"
        )
        review = svc.reviews()[0]
        svc.decide_review(review["review_id"], accept=True)
        say(f"  tier review {review['from']} → {review['to']} accepted: the move is requested (docs/content.md)")
    clock.advance(timedelta(days=120))
    moved = svc.lifecycle_job().result["moved"]
    say(
        f"120 days later the lifecycle job made {len(moved)} storage move(s): "
        + ", ".join(
            f"{m['item'].split('/')[3]} → {m['to_class']}"
            for m in moved
            if m["item"].split("/")[3] in (epic, series, short)
        )
    )
    for studio in STUDIOS:
        with tenant(studio):
            report = svc.cost()
        r = report.to_dict()
        say(
            f"cost of {studio} ({r['tier']}): {r['monthly_usd']} USD a month (fee {r['tier_fee']}, storage "
            f"{r['storage_usd']}); {len(r['recommendations'])} recommendation(s), saving {r['potential_saving_usd']}"
        )


def _place(payload: dict[str, object] | object) -> str:
    data = payload if isinstance(payload, dict) else {}
    return f"{data.get('storage_class')}, replication {data.get('replication')}"
