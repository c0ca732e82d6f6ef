"""Tour step: a scheduled address change taking effect, a retroactive correction, then/now answers."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from datastrata.runtime import Runtime
from datastrata.systems.masterdata.service import MasterDataService

KEY = "C1"
#: How far ahead the scheduled change is dated; the tour waits for it to pass.
SCHEDULE_AHEAD = timedelta(milliseconds=300)


def tour_step(runtime: Runtime, say: Callable[[str], None]) -> None:
    """Onboard a customer, correct her name retroactively, schedule a move, and ask 'as known then' vs now."""
    svc: MasterDataService = runtime.service("masterdata", MasterDataService)
    onboarded = datetime(2024, 1, 1, tzinfo=UTC)
    tokyo = {"email": "alice@example.com", "address": "1-1 Chiyoda, Tokyo", "credit_tier": "gold"}
    first = svc.put(
        "customer", KEY, {"name": "Alice Smyth", **tokyo}, valid_from=onboarded, actor="onboarding", reason="new"
    )
    svc.settle()
    credit = svc.downstream("customer", KEY)[0]["derived"]
    say(f"Customer {KEY} recorded, valid from {onboarded.date()}: Alice Smyth in Tokyo; downstream credit {credit}")

    renamed = datetime(2024, 6, 1, tzinfo=UTC)
    svc.put(
        "customer",
        KEY,
        {"name": "Alice Tanaka", **tokyo},
        valid_from=renamed,
        actor="support",
        reason="name changed on 2024-06-01; the registry told us today",
    )
    say(f"Retroactive correction: she has been Alice Tanaka since {renamed.date()} (we only learned it now)")
    question = datetime(2024, 7, 1, tzinfo=UTC)
    then = svc.get("customer", KEY, as_of=question, as_known_at=first.recorded_at)
    now = svc.get("customer", KEY, as_of=question)
    say(f"Her name on {question.date()}, as we knew it then: {then.attributes['name']}")
    say(f"Her name on {question.date()}, as we know it now:  {now.attributes['name']}")

    move = datetime.now(UTC) + SCHEDULE_AHEAD
    osaka = {**tokyo, "address": "2-2 Umeda, Osaka", "credit_tier": "silver"}
    svc.put("customer", KEY, {"name": "Alice Tanaka", **osaka}, valid_from=move, actor="alice", reason="moving")
    say(f"Scheduled a move to Osaka from {move.time().isoformat('milliseconds')} UTC")
    say(f"  before it: address {svc.get('customer', KEY).attributes['address']} (read through the cache)")
    time.sleep(max((move - datetime.now(UTC)).total_seconds(), 0) + 0.02)
    say(f"  after it:  address {svc.get('customer', KEY).attributes['address']} (the cache entry ended on time)")
    activated = svc.activate()
    svc.settle()
    credit = svc.downstream("customer", KEY)[0]["derived"]
    say(f"activate() announced {len(activated)} version(s); downstream recalculated credit {credit}")
    say(f"History of {KEY}: {len(svc.history('customer', KEY))} versions; audit entries: {len(svc.audit(key=KEY))}")
    drifts = svc.verify()
    say(f"verify: {len(drifts)} drifted downstream copies")
