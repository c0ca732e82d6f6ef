"""The generated PostgreSQL DDL runs on a real PostgreSQL server."""

from __future__ import annotations

import psycopg
import pytest

from datastrata.design import report_to_json
from datastrata.design.report import DesignReport

pytestmark = pytest.mark.postgres


def _apply(pg_url: str, report: DesignReport) -> list[str]:
    applied = []
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for context in report_to_json(report)["contexts"]:  # type: ignore[union-attr]
            ddl = context["schema"].get("postgresql")
            if ddl:
                conn.execute(ddl)
                applied.append(context["name"])
    return applied


@pytest.mark.parametrize(
    "example",
    [
        "netflix",
        "uber_eats",
        "tsmc_fab",
        "ten_contexts",
        "scooter_sharing",
        "smart_grid",
        "vessel_tracking",
        "clinic_saas",
        "fintech",
        "iot",
    ],  # pro_network has no relational or event-sourced context, so no DDL
)
def test_generated_ddl_runs(pg_url: str, example: str, request: pytest.FixtureRequest) -> None:
    report: DesignReport = request.getfixturevalue(example)
    assert _apply(pg_url, report)


def test_ddl_creates_the_declared_keys_and_indexes(pg_url: str, uber_eats: DesignReport) -> None:
    _apply(pg_url, uber_eats)
    with psycopg.connect(pg_url) as conn:
        indexes = {
            row[0]
            for row in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'restaurants'").fetchall()
        }
        assert {"geo_restaurant_lat_lng", "ft_menu_item_name_description", "ix_menu_item_restaurant_id"} <= indexes
        fks = conn.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' AND connamespace = 'restaurants'::regnamespace"
        ).fetchall()
        assert ("fk_menu_item_restaurant_id_restaurant",) in fks
        conn.execute(
            "INSERT INTO payments.events (stream_id, sequence_number, event_id, event_type, event_payload, occurred_at)"
            " VALUES ('p-1', 1, gen_random_uuid(), 'PAYMENT_TAKEN', '{}', now())"
        )
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "INSERT INTO payments.events (stream_id, sequence_number, event_id, event_type, event_payload,"
                " occurred_at) VALUES ('p-1', 1, gen_random_uuid(), 'PAYMENT_TAKEN', '{}', now())"
            )


def test_measurement_table_is_partitioned_by_time(pg_url: str, tsmc_fab: DesignReport) -> None:
    _apply(pg_url, tsmc_fab)
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "INSERT INTO sensor_telemetry.sensor_reading (sensor_id, machine_id, lot_id, wafer_id, metric, value,"
            " recorded_at) VALUES ('s1', 'm1', 'l1', 'w1', 'temperature', 21.5, now())"
        )
        kind = conn.execute(
            "SELECT relkind FROM pg_class WHERE oid = 'sensor_telemetry.sensor_reading'::regclass"
        ).fetchone()
        assert kind == ("p",)


def test_shared_tenancy_enables_row_level_security(pg_url: str, ten_contexts: DesignReport) -> None:
    _apply(pg_url, ten_contexts)
    with psycopg.connect(pg_url) as conn:
        secured = conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'seller_portal'::regnamespace AND relrowsecurity"
        ).fetchall()
        assert {row[0] for row in secured} == {"seller", "invoice"}
