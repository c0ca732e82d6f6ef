"""Pure bitemporal arithmetic: periods, assertion plans, boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from datastrata.core.errors import ValidationError
from datastrata.mdm.temporal import Period, Span, at, next_boundary, period, plan_assertion

T0 = datetime(2025, 1, 1, tzinfo=UTC)
D = timedelta(days=1)


def test_period_minus_leaves_the_parts_outside() -> None:
    whole = Period(T0, T0 + 10 * D)
    assert whole.minus(Period(T0 + 2 * D, T0 + 4 * D)) == [Period(T0, T0 + 2 * D), Period(T0 + 4 * D, T0 + 10 * D)]
    assert whole.minus(Period(T0 - D)) == []
    assert Period(T0).minus(Period(T0 + D, T0 + 2 * D)) == [Period(T0, T0 + D), Period(T0 + 2 * D)]
    assert whole.minus(Period(T0 + 10 * D)) == [whole]  # half-open: touching is not overlapping


def test_plan_closes_overlapping_spans_and_keeps_their_outside_parts() -> None:
    timeline = [Span(Period(T0, T0 + 5 * D), "a"), Span(Period(T0 + 5 * D), "b")]
    plan = plan_assertion(timeline, Period(T0 + 3 * D, T0 + 7 * D))
    assert [s.item for s in plan.superseded] == ["a", "b"]
    assert [(s.period, s.item) for s in plan.remainders] == [
        (Period(T0, T0 + 3 * D), "a"),
        (Period(T0 + 7 * D), "b"),
    ]
    assert at(timeline, T0 + 5 * D) is timeline[1]
    assert next_boundary([s.period for s in timeline], T0) == T0 + 5 * D
    assert next_boundary([s.period for s in timeline], T0 + 5 * D) is None


def test_period_refuses_inverted_naive_and_ancient_times() -> None:
    with pytest.raises(ValidationError, match="later than valid_from") as inverted:
        period(T0, T0)
    assert inverted.value.field == "valid_to"
    with pytest.raises(ValidationError, match="timezone-aware"):
        period(datetime(2025, 1, 1), None)
    with pytest.raises(ValidationError, match="on or after 1000-01-01"):
        period(datetime(999, 1, 1, tzinfo=UTC), None)
