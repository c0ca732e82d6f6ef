"""The readings table the tiering benchmarks move: (sensor, ts, value) over whole UTC days before NOW."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from datastrata.stores.database import time_to_db
from datastrata.stores.open import open_database

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def fill(path: Path, days: int, per_day: int) -> None:
    """Create the readings table in the SQLite file `path` with `per_day` readings on each of `days` days before NOW."""
    db = open_database(f"sqlite:///{path}?synchronous=NORMAL")
    with db.transaction() as tx:
        tx.run_script("CREATE TABLE readings (sensor TEXT NOT NULL, ts TEXT NOT NULL, value DOUBLE PRECISION)")
        step = 86_400_000_000 // per_day
        for d in range(1, days + 1):
            start = NOW - timedelta(days=d)
            tx.executemany(
                "INSERT INTO readings (sensor, ts, value) VALUES (?, ?, ?)",
                (
                    (
                        f"s{i % 500}",
                        time_to_db("sqlite", start + timedelta(microseconds=i * step)),
                        (i * 7919) % 1000 / 10,
                    )
                    for i in range(per_day)
                ),
            )
    db.close()
