"""Point-in-time correctness: hand-made boundary cases and a property test against a naive join."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datastrata.core.errors import ValidationError
from datastrata.systems.mlops.domain import FeatureView, feature_view
from datastrata.systems.mlops.offline import SEQ, rows_table
from datastrata.systems.mlops.training import labels_table, point_in_time

T0 = datetime(2026, 3, 1, tzinfo=UTC)
VIEW = feature_view("customer", "customer_id", {"spend": "float64", "visits": "int64"})


def history(view: FeatureView, rows: list[dict[str, Any]], seqs: list[int] | None = None) -> pa.Table:
    table = rows_table(view, rows)
    return table.append_column(SEQ, pa.array(seqs or [1] * len(rows), pa.int64()))


def joined(view: FeatureView, rows: list[dict[str, Any]], labels: list[dict[str, Any]], **kw: Any) -> list[dict]:
    table = labels_table(labels, [view.entity])
    return point_in_time(table, [(view, history(view, rows, **kw))]).to_pylist()


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def value(row: dict[str, Any]) -> Any:
    return row["spend"]


def test_a_value_at_the_label_time_is_used_and_a_later_one_never() -> None:
    rows = [
        {"customer_id": "a", "event_time": at(0), "spend": 1.0},
        {"customer_id": "a", "event_time": at(2), "spend": 2.0},
        {"customer_id": "a", "event_time": at(2) + timedelta(microseconds=1), "spend": 3.0},
    ]
    labels = [{"customer_id": "a", "label_time": at(2), "label": 1}]
    assert [value(r) for r in joined(VIEW, rows, labels)] == [2.0]


def test_a_label_before_every_value_gets_nulls() -> None:
    rows = [{"customer_id": "a", "event_time": at(1), "spend": 1.0, "visits": 3}]
    labels = [{"customer_id": "a", "label_time": at(1) - timedelta(microseconds=1), "label": 0}]
    (row,) = joined(VIEW, rows, labels)
    assert (row["spend"], row["visits"], row["customer__event_time"]) == (None, None, None)


def test_an_unknown_entity_gets_nulls_and_label_order_is_kept() -> None:
    rows = [{"customer_id": "a", "event_time": at(0), "spend": 1.0}]
    labels = [
        {"customer_id": "z", "label_time": at(5), "label": 0},
        {"customer_id": "a", "label_time": at(5), "label": 1},
        {"customer_id": "a", "label_time": at(-5), "label": 0},
    ]
    assert [(r["customer_id"], value(r)) for r in joined(VIEW, rows, labels)] == [("z", None), ("a", 1.0), ("a", None)]


def test_a_missing_value_in_the_latest_row_stays_missing() -> None:
    """A row is the view's values at its time: a null there is not filled from an older row."""
    rows = [
        {"customer_id": "a", "event_time": at(0), "spend": 1.0, "visits": 4},
        {"customer_id": "a", "event_time": at(1), "spend": 2.0, "visits": None},
    ]
    (row,) = joined(VIEW, rows, [{"customer_id": "a", "label_time": at(3), "label": 1}])
    assert (row["spend"], row["visits"]) == (2.0, None)


def test_ttl_is_inclusive_at_its_edge_and_drops_older_values() -> None:
    view = feature_view("customer", "customer_id", {"spend": "float64"}, "2h")
    rows = [{"customer_id": "a", "event_time": at(0), "spend": 1.0}]
    labels = [
        {"customer_id": "a", "label_time": at(2), "label": 1},
        {"customer_id": "a", "label_time": at(2) + timedelta(microseconds=1), "label": 1},
    ]
    assert [value(r) for r in joined(view, rows, labels)] == [1.0, None]


def test_a_tie_of_event_time_takes_the_later_ingestion_then_the_later_row() -> None:
    rows = [
        {"customer_id": "a", "event_time": at(1), "spend": 1.0},
        {"customer_id": "a", "event_time": at(1), "spend": 2.0},
        {"customer_id": "a", "event_time": at(1), "spend": 3.0},
    ]
    labels = [{"customer_id": "a", "label_time": at(1), "label": 1}]
    assert [value(r) for r in joined(VIEW, rows, labels, seqs=[2, 1, 1])] == [1.0]
    assert [value(r) for r in joined(VIEW, rows, labels, seqs=[1, 1, 1])] == [3.0]


def test_two_views_on_two_entities_join_each_on_its_own_key() -> None:
    product = feature_view("product", "product_id", {"price": "float64"})
    labels = labels_table(
        [{"customer_id": "a", "product_id": "p", "label_time": at(5), "label": 1}], ["customer_id", "product_id"]
    )
    out = point_in_time(
        labels,
        [
            (VIEW, history(VIEW, [{"customer_id": "a", "event_time": at(1), "spend": 7.0}])),
            (
                product,
                history(
                    product,
                    [
                        {"product_id": "p", "event_time": at(6), "price": 9.0},
                        {"product_id": "p", "event_time": at(4), "price": 8.0},
                    ],
                ),
            ),
        ],
    ).to_pylist()
    assert (out[0]["spend"], out[0]["price"]) == (7.0, 8.0)


def test_views_naming_the_same_feature_are_refused() -> None:
    other = feature_view("other", "customer_id", {"spend": "float64"})
    labels = labels_table([{"customer_id": "a", "label_time": at(1), "label": 1}], ["customer_id"])
    one = [{"customer_id": "a", "event_time": at(0)}]
    with pytest.raises(ValidationError, match="clashes"):
        point_in_time(labels, [(VIEW, history(VIEW, one)), (other, history(other, one))])


@pytest.mark.parametrize(
    ("label", "field"),
    [
        ({"customer_id": "a", "label_time": "2026-01-01T00:00:00", "label": 1}, "labels[0].label_time"),
        ({"customer_id": "a", "label_time": "2026-01-01T00:00:00Z", "label": "yes"}, "label"),
        ({"customer_id": "", "label_time": "2026-01-01T00:00:00Z", "label": 1}, "labels[0].customer_id"),
        ({"customer_id": "a", "label_time": "2026-01-01T00:00:00Z", "label": 1, "x": 2}, "labels[0].x"),
    ],
)
def test_bad_labels_are_refused_naming_the_field(label: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        labels_table([label], ["customer_id"])
    assert caught.value.field == field


def naive(rows: list[dict[str, Any]], seqs: list[int], labels: list[dict[str, Any]], ttl: timedelta | None) -> list:
    """The definition, spelled out: latest (event time, part, row) at or before the label time, within the TTL."""
    out = []
    for label in labels:
        best = None
        for i, row in enumerate(rows):
            if row["customer_id"] != label["customer_id"] or row["event_time"] > label["label_time"]:
                continue
            if ttl is not None and row["event_time"] < label["label_time"] - ttl:
                continue
            rank = (row["event_time"], seqs[i], i)
            if best is None or rank > best[0]:
                best = (rank, row)
        out.append(None if best is None else (best[1]["spend"], best[1]["event_time"]))
    return out


_times = st.integers(min_value=0, max_value=40).map(lambda m: T0 + timedelta(minutes=m))
_rows = st.lists(
    st.fixed_dictionaries(
        {
            "customer_id": st.sampled_from(["a", "b", "c"]),
            "event_time": _times,
            "spend": st.one_of(st.none(), st.floats(-100, 100, allow_nan=False)),
        }
    ),
    max_size=40,
)
_labels = st.lists(
    st.fixed_dictionaries(
        {"customer_id": st.sampled_from(["a", "b", "c", "d"]), "label_time": _times, "label": st.integers(0, 1)}
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=_rows,
    labels=_labels,
    seq_seed=st.lists(st.integers(1, 3), min_size=40, max_size=40),
    ttl=st.sampled_from([None, "5m", "20m"]),
)
def test_the_join_equals_a_naive_join_on_random_data(
    rows: list[dict[str, Any]], labels: list[dict[str, Any]], seq_seed: list[int], ttl: str | None
) -> None:
    view = feature_view("customer", "customer_id", {"spend": "float64"}, ttl)
    seqs = sorted(seq_seed[: len(rows)])  # parts are read in sequence order
    if rows:
        table = history(view, rows, seqs)
    else:
        table = rows_table(view, [{"customer_id": "x", "event_time": T0}]).slice(0, 0)
        table = table.append_column(SEQ, pa.array([], pa.int64()))
    got = point_in_time(labels_table(labels, ["customer_id"]), [(view, table)]).to_pylist()
    expected = naive(rows, seqs, labels, view.ttl)
    assert [None if r["customer__event_time"] is None else (r["spend"], r["customer__event_time"]) for r in got] == [
        None if e is None else (e[0], e[1]) for e in expected
    ]
    assert all(r["customer__event_time"] is None or r["customer__event_time"] <= r["label_time"] for r in got)
