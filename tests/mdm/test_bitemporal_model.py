"""Property: on both engines, get(as_of, as_known_at) agrees with a brute-force model of bitemporal assertions."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datastrata.core.clock import FrozenClock
from datastrata.core.errors import NotFound
from datastrata.mdm import MasterDataStore
from datastrata.runtime import Location
from datastrata.stores.database import Database
from tests.mdm.conftest import START

HOUR = timedelta(hours=1)
BASE = START - 6 * HOUR  # valid times run from 6 hours in the past to 14 hours in the future
_keys = itertools.count()


@dataclass(frozen=True)
class Assertion:
    """One put (value) or retire (None) as the model remembers it."""

    recorded: datetime
    start: datetime
    end: datetime | None
    value: str | None


@dataclass
class Model:
    """The semantics, brute force: the latest-recorded assertion covering a valid time wins."""

    assertions: list[Assertion] = field(default_factory=list)

    def value(self, valid: datetime, known: datetime | None = None) -> str | None:
        """What, as recorded by `known` (None: everything), was valid at `valid`."""
        for a in reversed(self.assertions):
            if (known is None or a.recorded <= known) and a.start <= valid and (a.end is None or valid < a.end):
                return a.value
        return None

    def live_within(self, start: datetime, end: datetime | None) -> bool:
        """True when the record exists (as known now) somewhere in [start, end)."""
        points = {start} | {t for a in self.assertions for t in (a.start, a.end) if t is not None}
        return any(self.value(p) is not None for p in points if p >= start and (end is None or p < end))


operation = st.tuples(
    st.sampled_from(["put", "put", "put", "retire", "activate"]),
    st.integers(min_value=0, max_value=16),  # valid_from, hours after BASE
    st.one_of(st.none(), st.integers(min_value=1, max_value=8)),  # length in hours, None = open-ended
    st.sampled_from(["Alice", "Bob", "Carol"]),
    st.integers(min_value=0, max_value=3),  # hours the clock moves after the operation
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=8))
def test_get_matches_the_model_on_both_time_axes(
    db: Database, ops: list[tuple[str, int, int | None, str, int]]
) -> None:
    clock = FrozenClock(START)
    store = MasterDataStore(Location.over(db, clock=clock), clock=clock)
    key = f"K{next(_keys)}"
    model = Model()
    recorded_times = [START - HOUR]
    for kind, start_h, length_h, name, advance_h in ops:
        start = BASE + start_h * HOUR
        end = None if length_h is None else start + length_h * HOUR
        now = clock()
        if kind == "put":
            store.put("customer", key, {"name": name}, valid_from=start, valid_to=end, actor="prop")
            model.assertions.append(Assertion(now, start, end, name))
            recorded_times.append(now)
        elif kind == "retire":
            if model.live_within(start, end):
                store.retire("customer", key, valid_from=start, valid_to=end, actor="prop")
                model.assertions.append(Assertion(now, start, end, None))
                recorded_times.append(now)
            else:
                with pytest.raises(NotFound):
                    store.retire("customer", key, valid_from=start, valid_to=end, actor="prop")
        else:
            store.activate()
        clock.advance(advance_h * HOUR)
        current = store.get("customer", key)
        assert (current.attributes["name"] if current else None) == model.value(clock()), "get() for now"

    for known in [None, *recorded_times]:
        for hour in range(-1, 24):
            valid = BASE + hour * HOUR
            record = store.get("customer", key, as_of=valid, as_known_at=known)
            got = record.attributes["name"] if record else None
            assert got == model.value(valid, known), f"as_of={valid:%H:%M} as_known_at={known}"
