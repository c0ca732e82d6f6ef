"""Planning a master-data change is pure: the timeline in, what to close, insert and announce out (no store)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from datastrata.core.errors import NotFound
from datastrata.mdm.changes import ChangeRequest, plan_change
from datastrata.mdm.sql import Key, VersionRow
from datastrata.mdm.temporal import period

T0 = datetime(2025, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
KEY = Key("default", "customer", "C1")


def version(version_id: str, start: datetime, end: datetime | None, attributes: dict[str, str] | None) -> VersionRow:
    return VersionRow(version_id, KEY, attributes, start, end, T0, None, "ops", "", "c0", None, start)


def test_a_put_inside_an_open_version_splits_it_into_remainders_around_the_new_one() -> None:
    counter = itertools.count(1)
    timeline = [version("v0", T0, None, {"name": "Alice"})]
    request = ChangeRequest(KEY, "put", {"name": "Alicia"}, period(T0 + 2 * DAY, T0 + 4 * DAY), "ops", "", "c1")
    plan = plan_change(request, timeline, T0, T0 + 3 * DAY, ids=lambda: f"n{next(counter)}")
    assert plan.close == ("v0",)
    spans = [(v.valid_from, v.valid_to, v.attributes, v.derived_from) for v in plan.versions]
    assert spans == [
        (T0, T0 + 2 * DAY, {"name": "Alice"}, "v0"),
        (T0 + 4 * DAY, None, {"name": "Alice"}, "v0"),
        (T0 + 2 * DAY, T0 + 4 * DAY, {"name": "Alicia"}, None),
    ]
    assert plan.current is plan.new and plan.in_effect and plan.next_change_at == T0 + 4 * DAY
    assert plan.payload["before"] == {"name": "Alice"} and plan.payload["replaced"][0]["version_id"] == "v0"
    assert plan.audit_at(42).position == 42 and plan.audit.change_id == "c1"


def test_the_recorded_time_never_goes_back_behind_the_latest_recorded_one() -> None:
    request = ChangeRequest(KEY, "put", {"name": "A"}, period(T0, None), "ops", "", "c1")
    plan = plan_change(request, [], T0 + 5 * DAY, T0 + DAY)
    assert plan.now == T0 + 5 * DAY and plan.close == () and plan.payload["before"] is None


def test_retiring_where_nothing_is_valid_is_refused() -> None:
    request = ChangeRequest(KEY, "retire", None, period(T0, None), "ops", "", "c1")
    with pytest.raises(NotFound, match="no version valid"):
        plan_change(request, [version("v0", T0, None, None)], None, T0)
