"""Reading the fab's data back: one query over every tier, daily and weekly reports, and the access log they write.

Every query and report is a data access the fab records (who read what, when) in ``fab_access_log``: the
business records the policy freezes after a year and deletes after seven.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from datastrata.core.clock import ensure_utc
from datastrata.core.errors import ValidationError
from datastrata.core.tenancy import current_tenant
from datastrata.core.validation import bounded_int
from datastrata.runtime import Runtime
from datastrata.stores.database import time_from_db, time_to_db
from datastrata.systems.fab import domain
from datastrata.systems.fab.lifecycle import FabTiers
from datastrata.tiering.query import Aggregation, RangeQuery

#: The longest range one query reads (raw readings or 1-minute aggregates).
MAX_RANGE = timedelta(days=31)
#: The most rows one query answers with; a longer answer is refused (narrow the range or aggregate).
MAX_ROWS = 100_000
#: The days a report may cover.
FIRST_DAY, LAST_DAY = date(1970, 1, 5), date(9999, 12, 1)  # 1970-01-05 is a Monday
Alerts = Callable[[datetime, datetime], list[dict[str, Any]]]


class FabReports:
    """Queries and reports over all tiers, each recorded in the access log."""

    def __init__(self, runtime: Runtime, tiers: FabTiers, alerts: Alerts) -> None:
        self.runtime = runtime
        self.tiers = tiers
        self.alerts = alerts

    def query(
        self, sensor_id: str, start: datetime, end: datetime, *, agg: str | None = None, actor: str = "cli"
    ) -> dict[str, Any]:
        """One sensor's readings in [start, end) from every tier as if all were hot; with ``agg='1m'`` per minute."""
        domain.check_sensor_id(sensor_id)
        start, end = _range(start, end)
        if agg not in (None, "1m"):
            raise ValidationError(f"agg must be 1m (1-minute min/max/avg/count) or omitted; got {agg!r}", field="agg")
        series = {"tenant_id": current_tenant(), "sensor_id": sensor_id}
        per_minute = None if agg is None else Aggregation(timedelta(minutes=1), "value")
        rows = self.tiers.query(RangeQuery("readings", start, end, series, per_minute, limit=MAX_ROWS + 1))
        if rows.num_rows > MAX_ROWS:
            raise ValidationError(
                f"more than {MAX_ROWS} rows in that range; narrow --from/--to (or use --agg 1m)", field="to"
            )
        if agg is None:
            answer = [{"at": at.isoformat(), "value": v} for at, v in zip(*_columns(rows, "ts", "value"), strict=True)]
        else:
            answer = [
                {"minute": ensure_utc(m, field="minute").isoformat(), "min": lo, "max": hi, "avg": mean, "count": n}
                for m, lo, hi, mean, n in zip(*_columns(rows, "bucket", "min", "max", "avg", "count"), strict=True)
            ]
        self._log(actor, "query", f"{sensor_id} {start.isoformat()}..{end.isoformat()} agg={agg or 'raw'}")
        return {"sensor_id": sensor_id, "from": start.isoformat(), "to": end.isoformat(), "agg": agg, "rows": answer}

    def daily(self, day: date | None = None, *, actor: str = "cli") -> dict[str, Any]:
        """The report of one UTC day (default: yesterday) from the 1-minute aggregates, per sensor kind."""
        day = _check_day(day or (self.runtime.clock().date() - timedelta(days=1)))
        start = datetime.combine(day, time(0), tzinfo=UTC)
        return self._report("daily", start, start + timedelta(days=1), actor)

    def weekly(self, day: date | None = None, *, actor: str = "cli") -> dict[str, Any]:
        """The report of the ISO week (Monday to Sunday) holding `day` (default: last week)."""
        day = _check_day(day or (self.runtime.clock().date() - timedelta(days=7)))
        monday = day - timedelta(days=day.weekday())
        start = datetime.combine(monday, time(0), tzinfo=UTC)
        return self._report("weekly", start, start + timedelta(days=7), actor)

    def _report(self, period: str, start: datetime, end: datetime, actor: str) -> dict[str, Any]:
        if not FIRST_DAY <= start.date() <= LAST_DAY:
            raise ValidationError(f"day must be between {FIRST_DAY} and {LAST_DAY}; got {start.date()}", field="day")
        minutes = self.tiers.query(RangeQuery("readings_1m", start, end, {"tenant_id": current_tenant()}))
        kinds = {s: k for s, k in self._kinds().items()}
        con = duckdb.connect()
        try:
            con.register("agg", minutes)
            con.register("kinds", pa.table({"sensor_id": list(kinds), "kind": list(kinds.values())}))
            found = con.sql(
                "SELECT k.kind, count(DISTINCT a.sensor_id), count(*), sum(a.readings), min(a.min_value), "
                "max(a.max_value), sum(a.avg_value * a.readings) / sum(a.readings) "
                "FROM agg a JOIN kinds k USING (sensor_id) GROUP BY k.kind ORDER BY k.kind"
            ).fetchall()
        finally:
            con.close()
        alerts = self.alerts(start, end)
        by_kind = {k: sum(1 for a in alerts if a["kind"] == k) for k in domain.KINDS}
        self._log(actor, f"report.{period}", f"{start.date().isoformat()}..{end.date().isoformat()}")
        return {
            "period": period,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "kinds": [
                {
                    "kind": str(kind),
                    "sensors": int(sensors),
                    "minutes": int(n),
                    "readings": int(readings),
                    "min": float(low),
                    "max": float(high),
                    "avg": round(float(mean), 6),
                    "alerts": by_kind.get(str(kind), 0),
                }
                for kind, sensors, n, readings, low, high, mean in found
            ],
            "alerts": len(alerts),
        }

    def _kinds(self) -> dict[str, str]:
        with self.runtime.read(self.tiers.scope) as tx:
            rows = tx.query("SELECT sensor_id, kind FROM fab_sensors WHERE tenant_id = ?", (current_tenant(),))
        return {str(s): str(k) for s, k in rows}

    def _log(self, actor: str, action: str, detail: str) -> None:
        with self.runtime.transaction(self.tiers.scope) as tx:
            tx.execute(
                "INSERT INTO fab_access_log (tenant_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
                (current_tenant(), time_to_db(tx.dialect, self.runtime.clock()), actor[:200], action, detail[:500]),
            )

    def access_log(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """The newest accesses still in the relational store (older ones are in the archive)."""
        bounded_int(limit, field="limit", minimum=1, maximum=1000)
        with self.runtime.read(self.tiers.scope) as tx:
            rows = tx.query(
                "SELECT at, actor, action, detail FROM fab_access_log WHERE tenant_id = ? ORDER BY at DESC LIMIT ?",
                (current_tenant(), limit),
            )
        return [{"at": time_from_db(a).isoformat(), "actor": b, "action": c, "detail": d} for a, b, c, d in rows]


def _check_day(day: date) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationError(f"day must be between {FIRST_DAY} and {LAST_DAY}; got {day}", field="day")
    return day


def _range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = ensure_utc(start, field="from"), ensure_utc(end, field="to")
    if end <= start:
        raise ValidationError(f"to ({end.isoformat()}) must be after from ({start.isoformat()})", field="to")
    if end - start > MAX_RANGE:
        raise ValidationError(
            f"a query reads at most {MAX_RANGE.days} days; got {(end - start).days} (split the range)", field="to"
        )
    return start, end


def _columns(table: pa.Table, *names: str) -> list[list[Any]]:
    return [table.column(n).to_pylist() for n in names]
