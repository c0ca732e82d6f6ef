"""Tour step: a day of the wafer fab on a frozen clock, three days later another few hours, and every tier shown."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from datastrata.core.clock import FrozenClock
from datastrata.runtime import Runtime
from datastrata.systems.fab.cli import status_text
from datastrata.systems.fab.service import FabService
from datastrata.systems.fab.simulate import simulate

DAY = datetime(2026, 11, 2, tzinfo=UTC)


def tour_step(runtime: Runtime, say: Callable[[str], None]) -> None:
    """Simulate 12 sensors for a day, let three days pass, simulate 3 more hours; show alerts, a query, the tiers."""
    clock = FrozenClock(DAY - timedelta(days=400))
    with Runtime.open(runtime.settings, clock=clock) as fab:
        svc = FabService(fab)
        svc.reports.daily(actor="quality-engineer")  # a year ago, someone read a report: an access-log record
        first = simulate(svc, clock, sensors=12, rate=1 / 60, minutes=24 * 60, start=DAY, tier_every=timedelta(hours=2))
        say(f"Day 1 ({DAY.date()}): {first['readings']} readings from 12 sensors, {first['alerts']} threshold alerts")
        later = DAY + timedelta(days=4)
        clock.set(later)
        svc.tiers.run(later)
        last = simulate(svc, clock, sensors=12, rate=1 / 60, minutes=3 * 60, start=later)
        say(f"Three days later: {last['readings']} more readings, {last['alerts']} alerts; the lifecycle ran each hour")
        for alert in svc.alerts(limit=3):
            say(
                f"  alert v{alert['version']}: {alert['sensor_id']} {alert['value']} over {alert['limit']} "
                f"at {alert['reading_at']}"
            )
        found = svc.reports.query("temperature-0001", DAY, later + timedelta(hours=3), agg="1m", actor="tour")
        say(f"One query over every tier, temperature-0001 per minute: {len(found['rows'])} minutes")
        daily = svc.reports.daily(DAY.date(), actor="tour")
        say(
            "Daily report of day 1: "
            + ", ".join(f"{k['kind']} avg {k['avg']:.2f} ({k['alerts']} alerts)" for k in daily["kinds"])
        )
        say("Where the data lives now:")
        for line in status_text(svc.tiers.status()).splitlines():
            say(f"  {line}")
