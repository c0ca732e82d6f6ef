"""The fab's tables: sensors, raw readings (hot and warm), 1-minute aggregates (hot and warm), the access log."""

from __future__ import annotations

from datastrata.runtime.tenantdata import TableSpec, register
from datastrata.stores.database import Dialect
from datastrata.stores.migrations import Component

_DDL = """
CREATE TABLE IF NOT EXISTS fab_sensors (
    tenant_id TEXT    NOT NULL,
    sensor_id TEXT    NOT NULL,
    kind      TEXT    NOT NULL CHECK (kind IN ('temperature', 'pressure', 'vibration')),
    alarm     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, sensor_id)
);
CREATE TABLE IF NOT EXISTS fab_readings (
    tenant_id TEXT   NOT NULL,
    sensor_id TEXT   NOT NULL,
    ts        {time} NOT NULL,
    value     {real} NOT NULL,
    PRIMARY KEY (tenant_id, sensor_id, ts)
);
CREATE TABLE IF NOT EXISTS fab_readings_warm (
    tenant_id TEXT   NOT NULL,
    sensor_id TEXT   NOT NULL,
    ts        {time} NOT NULL,
    value     {real} NOT NULL,
    PRIMARY KEY (tenant_id, sensor_id, ts)
);
CREATE INDEX IF NOT EXISTS fab_readings_warm_by_ts ON fab_readings_warm (ts);
CREATE TABLE IF NOT EXISTS fab_readings_1m (
    tenant_id TEXT    NOT NULL,
    sensor_id TEXT    NOT NULL,
    minute    {time}  NOT NULL,
    min_value {real}  NOT NULL,
    max_value {real}  NOT NULL,
    avg_value {real}  NOT NULL,
    readings  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, sensor_id, minute)
);
CREATE TABLE IF NOT EXISTS fab_readings_1m_warm (
    tenant_id TEXT    NOT NULL,
    sensor_id TEXT    NOT NULL,
    minute    {time}  NOT NULL,
    min_value {real}  NOT NULL,
    max_value {real}  NOT NULL,
    avg_value {real}  NOT NULL,
    readings  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, sensor_id, minute)
);
CREATE INDEX IF NOT EXISTS fab_readings_1m_warm_by_minute ON fab_readings_1m_warm (minute);
CREATE TABLE IF NOT EXISTS fab_aggregated (
    name TEXT   PRIMARY KEY,
    upto {time} NOT NULL
);
CREATE TABLE IF NOT EXISTS fab_access_log (
    tenant_id TEXT   NOT NULL,
    at        {time} NOT NULL,
    actor     TEXT   NOT NULL,
    action    TEXT   NOT NULL,
    detail    TEXT   NOT NULL
);
CREATE INDEX IF NOT EXISTS fab_access_log_by_at ON fab_access_log (at);
"""


def ddl(dialect: Dialect) -> str:
    """Return the fab's DDL for `dialect`."""
    if dialect == "sqlite":
        return _DDL.format(time="TEXT", real="REAL")
    return _DDL.format(time="TIMESTAMPTZ", real="DOUBLE PRECISION")


#: The fab's schema: migration 1 is every table above.
MIGRATIONS = Component.baseline("fab", ddl)

register(
    "fab",
    TableSpec("fab_sensors", ("tenant_id", "sensor_id")),
    *(TableSpec(t, ("tenant_id", "sensor_id", "ts")) for t in ("fab_readings", "fab_readings_warm")),
    *(TableSpec(t, ("tenant_id", "sensor_id", "minute")) for t in ("fab_readings_1m", "fab_readings_1m_warm")),
)
