"""Tour step: features offline → online, a point-in-time training set, a model's life from pending to frozen."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from datastrata.core.clock import FrozenClock
from datastrata.runtime import Runtime
from datastrata.systems.mlops.registry import shipped_policy
from datastrata.systems.mlops.service import MlopsService
from datastrata.tiering.job import install
from datastrata.tiering.restores import restore_scope

START = datetime(2025, 1, 1, tzinfo=UTC)


def tour_step(runtime: Runtime, say: Callable[[str], None]) -> None:
    """Ingest a week of customer features, train on labels as of their own time, approve, freeze, restore."""
    clock = FrozenClock(START + timedelta(days=8))
    with Runtime.open(runtime.settings, clock=clock) as frozen:  # the same store, on a clock the tour moves
        _story(MlopsService(frozen), clock, say)


def _story(svc: MlopsService, clock: FrozenClock, say: Callable[[str], None]) -> None:
    rng = random.Random(7)
    svc.features.define("customer", "customer_id", {"spend_7d": "float64", "orders_7d": "int64"}, ttl="30d")
    rows = [
        {
            "customer_id": f"c{c}",
            "event_time": START + timedelta(days=d, hours=rng.randrange(24)),
            "spend_7d": round(rng.uniform(10, 200), 2),
            "orders_7d": rng.randrange(1, 9),
        }
        for c in range(50)
        for d in range(7)
    ]
    ingested = svc.features.ingest("customer", rows).events[0].payload
    say(f"Offline store: {ingested['rows']} feature rows as {ingested['parts']} zstd Parquet parts, one per day")
    done = svc.materialize_job()
    say(
        f"Materialised (job {done.id[:8]}): {done.result['parts']} parts, the latest value per customer, into the "
        f"{done.result['online']} online store"
    )
    say(f"Online read for c1: {svc.features.online('customer', ['c1'])[0]['features']}")
    labels = [
        {"customer_id": "c1", "label_time": START + timedelta(days=d, hours=12), "label": d % 2} for d in (0, 3, 6)
    ]
    table = svc.features.training_set(["customer"], labels, save_as="churn_train")
    say("Point-in-time training set (each label joined as of its own time, never a later value):")
    for row in table.to_pylist():
        seen = row["customer__event_time"]
        say(
            f"  label at {row['label_time']:%m-%d %H:%M}  spend_7d {row['spend_7d']}  (value from {seen:%m-%d %H:%M})"
            if seen
            else f"  label at {row['label_time']:%m-%d %H:%M}  no value yet"
        )
    v1 = svc.models.register("churn", b"churn model v1", metrics={"auc": 0.81}).events[0].payload["version"]
    v2 = svc.models.register("churn", b"churn model v2", metrics={"auc": 0.78}).events[0].payload["version"]
    svc.models.set_stage("churn", v1, "approved")
    svc.models.move_alias("churn", "champion", v1)
    say(f"Registry: churn v{v1} approved as champion; v{v2} left pending")
    svc.inference.capture("churn", "champion", [{"spend_7d": rng.uniform(150, 400)} for _ in range(200)], [0.5] * 200)
    drift = svc.inference.drift("churn", "spend_7d", baseline="churn_train")
    say(f"Captured 200 inferences to the cold tier; drift of spend_7d: PSI {drift['psi']:.2f} ({drift['verdict']})")
    clock.advance(timedelta(days=400))
    moved = svc.archive_job().result["moved"]
    frozen = [m for m in moved if m["dataset"] == "models"]
    say(
        f"400 days later the tiering policy made {len(moved)} moves; frozen (unapproved, over a year old): "
        f"{[m['item'].rsplit('/', 1)[-1][:12] for m in frozen]}"
    )
    for placed in svc.models.archive_status("churn"):
        say(f"  churn v{placed['version']} {placed['stage']:<8} {placed['tier']:<6} {placed['storage_class']}")
    ask = svc.models.restore("churn", v2, tier="standard", days=7)
    say(f"Restore of v{v2} requested: readable from {ask['ready_at']} (the archive tier's ETA)")
    clock.set(datetime.fromisoformat(ask["ready_at"]))
    say(f"At the ETA the artifact reads back: {svc.models.artifact('churn', v2)!r}")
    install(svc.runtime, shipped_policy())()  # one round of the policy's supervised job (serve/worker --tiering)
    notice = svc.runtime.stream(restore_scope(ask["job"]))[-1]
    say(f"The policy's job noticed and appended {notice.type} to {notice.stream_id}")
