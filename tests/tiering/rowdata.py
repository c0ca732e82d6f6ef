"""A time-stamped readings table on either store, filled with deterministic readings over several days."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from datastrata.stores.database import Database, time_to_db

NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
POLICY = {
    "name": "test",
    "datasets": {
        "readings": {
            "kind": "rows",
            "table": "readings",
            "time_column": "ts",
            "rules": [{"after": "3d", "to": "cold"}, {"after": "10d", "to": "expired"}],
        },
    },
    "queries": [{"name": "raw readings by sensor", "dataset": "readings", "covers": "10d"}],
}
#: POLICY with its cold parts also registered in the Iceberg table fab.readings.
ICEBERG_POLICY = {
    **POLICY,
    "datasets": {"readings": {**POLICY["datasets"]["readings"], "iceberg": {"table": "fab.readings"}}},  # type: ignore[dict-item]
}


def create_readings(db: Database, *, days: int = 8, per_day: int = 40, seed: int = 7) -> int:
    """Create `readings` (sensor, ts, value) and fill `days` days before NOW; return the row count."""
    time_type = "TEXT" if db.dialect == "sqlite" else "TIMESTAMPTZ"
    rng = random.Random(seed)
    with db.transaction() as tx:
        tx.run_script(
            f"CREATE TABLE IF NOT EXISTS readings (sensor TEXT NOT NULL, ts {time_type} NOT NULL, "
            "value DOUBLE PRECISION NOT NULL)"
        )
        rows = []
        for d in range(days):
            day = (NOW - timedelta(days=d)).replace(hour=0, minute=0)
            for i in range(per_day):
                at = day + timedelta(seconds=rng.randrange(0, 86_400), microseconds=i)
                if at < NOW:
                    rows.append((f"s{rng.randrange(5)}", time_to_db(tx.dialect, at), round(rng.uniform(-50, 150), 3)))
        tx.executemany("INSERT INTO readings (sensor, ts, value) VALUES (?, ?, ?)", rows)
    return len(rows)
