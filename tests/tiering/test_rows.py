"""The row checksum: equal for the same rows read from a table or Parquet, different for any change."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from datastrata.tiering.rows import checksum, from_parquet, to_arrow, to_parquet

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def table(*rows: tuple[object, ...]) -> pa.Table:
    return to_arrow(["sensor", "ts", "value"], list(rows), "ts")


def test_the_same_rows_checksum_alike_through_parquet() -> None:
    rows = table(("s1", "2026-11-01T12:00:00.000000Z", 1.5), ("s2", AT, None))
    assert checksum(from_parquet(to_parquet(rows))) == checksum(rows)


def test_any_change_changes_the_checksum() -> None:
    base = checksum(table(("s1", AT, 1.5), ("", AT, 2.0)))
    assert checksum(table(("s1", AT, 1.5), ("", AT, 2.000001))) != base
    assert checksum(table(("s1", AT, 1.5), (None, AT, 2.0))) != base  # a null is not an empty string
    assert checksum(table(("", AT, 2.0), ("s1", AT, 1.5))) != base  # order counts: both sides sort alike
    assert checksum(table(("s1", AT, 1.5))) != base
