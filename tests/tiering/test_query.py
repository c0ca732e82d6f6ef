"""One query over all tiers answers exactly as the same query on an all-hot copy: random data, ranges, aggregates."""

from __future__ import annotations

import os
import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.errors import NotFound, ValidationError
from datastrata.stores.database import Database, time_to_db
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.plan import plan
from datastrata.tiering.policy import parse_policy
from datastrata.tiering.query import Aggregation, RangeQuery, run_query
from datastrata.tiering.restores import Restores

NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
DAYS = 9
QUERIES = 200 if os.environ.get("DATASTRATA_FULL") == "1" else 20


def _policy(table: str, rules: list[dict[str, str]], *, online: str = "hot", covers: str = "30d") -> dict[str, Any]:
    return {
        "name": table,
        "datasets": {
            table: {"kind": "rows", "table": table, "time_column": "ts", "online": online, "rules": rules},
        },
        "queries": [{"name": "raw", "dataset": table, "covers": covers}],
    }


#: How the tiered copy is spread: a hot table and Parquet, a warm table and Parquet, or with frozen days restored.
SPREADS = {
    "hot": ({"online": "hot"}, [{"after": "2d", "to": "cold"}]),
    "warm": ({"online": "warm"}, [{"after": "2d", "to": "cold"}]),
    "restored": ({"covers": "5d"}, [{"after": "2d", "to": "cold"}, {"after": "5d", "to": "frozen"}]),
}


def _fill(db: Database, rng: random.Random) -> list[tuple[Any, ...]]:
    time_type = "TEXT" if db.dialect == "sqlite" else "TIMESTAMPTZ"
    rows = []
    for _ in range(DAYS * 150):
        at = NOW - timedelta(seconds=rng.randrange(0, DAYS * 86_400), microseconds=rng.randrange(1_000_000))
        value = None if rng.random() < 0.05 else rng.choice([rng.uniform(-1e3, 1e3), float(rng.randrange(-5, 5))])
        rows.append((f"s{rng.randrange(4)}", at, value, rng.randrange(3)))
    with db.transaction() as tx:
        for table in ("tiered", "allhot"):
            tx.run_script(
                f"CREATE TABLE {table} (sensor TEXT NOT NULL, ts {time_type} NOT NULL, value DOUBLE PRECISION, "
                "quality INTEGER NOT NULL)"
            )
    _insert(db, rows)
    return rows


def _insert(db: Database, rows: list[tuple[Any, ...]]) -> None:
    with db.transaction() as tx:
        for table in ("tiered", "allhot"):
            tx.executemany(
                f"INSERT INTO {table} (sensor, ts, value, quality) VALUES (?, ?, ?, ?)",
                [(s, time_to_db(tx.dialect, t), v, q) for s, t, v, q in rows],
            )


def _random_query(dataset: str, seed: int) -> RangeQuery:
    qr = random.Random(seed)
    start = NOW - timedelta(seconds=qr.randrange(0, (DAYS + 1) * 86_400))
    end = start + timedelta(seconds=qr.randrange(1, 5 * 86_400))
    series: dict[str, Any] = {"sensor": f"s{qr.randrange(4)}"} if qr.random() < 0.5 else {}
    if qr.random() < 0.3:
        series["quality"] = qr.randrange(3)
    aggregate = None
    if qr.random() < 0.6:
        every = qr.choice([timedelta(minutes=1), timedelta(minutes=15), timedelta(hours=1), timedelta(days=1)])
        aggregate = Aggregation(every, "value", qr.choice([(), ("sensor",), ("sensor", "quality")]))
    limit = qr.choice([None, None, 5, 100])
    return RangeQuery(dataset, start, end, series, aggregate, limit)


@pytest.mark.parametrize("spread", sorted(SPREADS))
def test_every_query_over_all_tiers_equals_the_all_hot_copy(db: Database, tmp_path: object, spread: str) -> None:
    rng = random.Random(20261201)
    _fill(db, rng)
    clock = FrozenClock(NOW)
    objects = ObjectStore(f"file://{tmp_path}/objects", clock=clock)
    options, rules = SPREADS[spread]
    tiered = Mover(db, objects, parse_policy(_policy("tiered", rules, **options)), clock=clock)
    hot = Mover(db, objects, parse_policy(_policy("allhot", [{"after": "7y", "to": "expired"}])), clock=clock)
    moved = tiered.run(plan(tiered.policy, tiered.inventory(), NOW))
    assert len(moved) >= DAYS - 3  # most days now live only in Parquet
    if spread == "restored":
        frozen = [r.item for r in moved if r.to_tier == "frozen"]
        assert len(frozen) >= 3
        Restores(tiered).request("tiered", frozen, tier="expedited", days=1)
        clock.advance(timedelta(minutes=5))  # the restored copies are readable now
    late = [("s1", NOW - timedelta(days=5, minutes=m), float(m), 1) for m in range(5)]  # late rows of a cold day
    _insert(db, late)
    with db.read() as tx:
        assert int(tx.scalar("SELECT count(*) FROM tiered")) < int(tx.scalar("SELECT count(*) FROM allhot")) / 2
    for seed in range(QUERIES):
        q = _random_query("tiered", seed)
        got = run_query(tiered, q)
        want = run_query(hot, RangeQuery("allhot", q.start, q.end, q.series, q.aggregate, q.limit))
        assert got.to_pylist() == want.to_pylist(), q
    whole = RangeQuery("tiered", NOW - timedelta(days=30), NOW + timedelta(days=1))
    assert run_query(tiered, whole).num_rows == run_query(hot, RangeQuery("allhot", whole.start, whole.end)).num_rows


def test_aggregates_are_per_bucket_and_series(db: Database, tmp_path: object) -> None:
    time_type = "TEXT" if db.dialect == "sqlite" else "TIMESTAMPTZ"
    with db.transaction() as tx:
        tx.run_script(f"CREATE TABLE tiered (sensor TEXT, ts {time_type}, value DOUBLE PRECISION, quality INTEGER)")
        tx.executemany(
            "INSERT INTO tiered VALUES (?, ?, ?, 0)",
            [(s, time_to_db(tx.dialect, NOW - timedelta(days=4, seconds=sec)), v) for s, sec, v in _SAMPLE],
        )
    clock = FrozenClock(NOW)
    mover = Mover(
        db,
        ObjectStore(f"file://{tmp_path}/objects", clock=clock),
        parse_policy(_policy("tiered", [{"after": "2d", "to": "cold"}])),
        clock=clock,
    )
    assert mover.run(plan(mover.policy, mover.inventory(), NOW))  # the day is cold now
    day = NOW - timedelta(days=5)
    got = run_query(
        mover, RangeQuery("tiered", day, NOW, aggregate=Aggregation(timedelta(minutes=1), "value", ("sensor",)))
    ).to_pylist()
    minute = (NOW - timedelta(days=4)).replace(second=0) - timedelta(minutes=1)
    assert got == [
        {"bucket": minute, "sensor": "a", "count": 2, "avg": 2.0, "min": 1.0, "max": 3.0},
        {"bucket": minute, "sensor": "b", "count": 1, "avg": 10.0, "min": 10.0, "max": 10.0},
        {"bucket": NOW - timedelta(days=4), "sensor": "a", "count": 1, "avg": 7.0, "min": 7.0, "max": 7.0},
    ]


_SAMPLE = [("a", 10, 1.0), ("a", 20, 3.0), ("b", 30, 10.0), ("a", 0, 7.0)]


def test_bad_queries_are_refused_naming_the_field(db: Database, tmp_path: object) -> None:
    time_type = "TEXT" if db.dialect == "sqlite" else "TIMESTAMPTZ"
    with db.transaction() as tx:
        tx.run_script(f"CREATE TABLE tiered (sensor TEXT, ts {time_type}, value DOUBLE PRECISION, quality INTEGER)")
    mover = Mover(
        db,
        ObjectStore(f"file://{tmp_path}/objects"),
        parse_policy(_policy("tiered", [{"after": "2d", "to": "cold"}])),
    )
    cases: list[tuple[RangeQuery, str]] = [
        (RangeQuery("tiered", NOW, NOW - timedelta(hours=1)), "to"),
        (RangeQuery("tiered", NOW, NOW + timedelta(hours=1), {"colour": "red"}), "series"),
        (RangeQuery("tiered", NOW, NOW + timedelta(hours=1), aggregate=Aggregation(timedelta(60), "x")), "value"),
        (
            RangeQuery("tiered", NOW, NOW + timedelta(hours=1), aggregate=Aggregation(timedelta(0), "value")),
            "every",
        ),
    ]
    for q, field in cases:
        with pytest.raises(ValidationError) as refused:
            run_query(mover, q)
        assert refused.value.field == field
    with pytest.raises(NotFound, match="known: \\['tiered'\\]"):
        run_query(mover, RangeQuery("nope", NOW, NOW + timedelta(hours=1)))


class _MovesMidQuery(Mover):
    """A mover whose first read of the audit inside a query lets a whole move commit just before it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: list[Any] = []

    def cold_parts(self, dataset: str, *, tx: Any = None) -> Any:
        if self.pending:  # another thread (its own connection) commits the moves while the query's snapshot is open
            moves, self.pending = self.pending, []
            mover = threading.Thread(target=lambda: [self.apply(m) for m in moves])
            mover.start()
            mover.join()
        return super().cold_parts(dataset, tx=tx)


def test_a_move_committing_during_a_query_is_answered_once(db: Database, tmp_path: object) -> None:
    _fill(db, random.Random(5))
    clock = FrozenClock(NOW)
    objects = ObjectStore(f"file://{tmp_path}/objects", clock=clock)
    tiered = _MovesMidQuery(db, objects, parse_policy(_policy("tiered", [{"after": "2d", "to": "cold"}])), clock=clock)
    hot = Mover(db, objects, parse_policy(_policy("allhot", [{"after": "7y", "to": "expired"}])), clock=clock)
    start, end = NOW - timedelta(days=DAYS + 1), NOW
    tiered.pending = list(plan(tiered.policy, tiered.inventory(), NOW).moves)
    assert len(tiered.pending) >= DAYS - 3
    got = run_query(tiered, RangeQuery("tiered", start, end))
    assert len(tiered.records()) >= DAYS - 3  # the moves did commit during the query
    assert got.to_pylist() == run_query(hot, RangeQuery("allhot", start, end)).to_pylist()
    assert run_query(tiered, RangeQuery("tiered", start, end)).to_pylist() == got.to_pylist()  # and after
