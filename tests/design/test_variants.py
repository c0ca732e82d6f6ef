"""Specs of our own that retell the article's examples in other domains and words reach the same kind of design.

Each spec varies what the article's three examples fix by accident — the entity kind, the frequency words, the
write pattern, whether every read is of one kind — so the rules are tested on the access patterns, not on the
phrasing. All four pattern-led cases got another primary store before the access pattern decided first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from datastrata.design import design, load_spec, rules
from datastrata.design.report import DesignReport

from .helpers import assert_reasons_traceable, context, families, roles, strategies


def test_scooter_positions_are_a_geo_index_although_declared_measurements(scooter_sharing: DesignReport) -> None:
    fleet = context(scooter_sharing, "fleet")
    primary = fleet.technologies[0].choice
    assert primary.offering.aws == "Amazon ElastiCache (Redis OSS) GEO commands"
    assert "time-series" not in families(scooter_sharing, "fleet")
    assert [r.rule for r in primary.because] == [rules.GEO_STREAM.id]
    assert "not the measurements' kind" in primary.because[0].says
    geo = fleet.schema["in_memory"]
    assert isinstance(geo, list)
    assert geo[0]["type"] == "geo set" and geo[0]["query"].startswith("GEOSEARCH fleet:scooter_fix:geo")
    stream = roles(scooter_sharing, "fleet")["event stream"]
    assert stream == "stream"
    stream_rules = [r.rule for t in fleet.technologies if t.choice.role == "event stream" for r in t.choice.because]
    assert rules.GEO_STREAM.id in stream_rules


def test_scooter_rides_start_only_after_the_deposit_saga(scooter_sharing: DesignReport) -> None:
    rentals = context(scooter_sharing, "rentals")
    assert rentals.selection.saga_partners == ("billing",)  # inferred: Deposit is billing's entity
    says = [r.says for s in rentals.selection.strategies for r in s.because if r.rule == rules.SAGA.id]
    assert any("inferred" in text for text in says)
    assert families(scooter_sharing, "billing")[0] == "relational"
    assert "event-sourcing" in strategies(scooter_sharing, "billing")


def test_meter_samples_on_a_stream_are_a_tiered_time_series(smart_grid: DesignReport) -> None:
    tiers = roles(smart_grid, "meter-samples")
    assert tiers["hot tier (system of record)"] == "time-series"
    assert tiers["warm tier"] == "time-series"
    assert tiers["cold-tier query (SQL over Parquet)"] == "columnar"
    assert tiers["frozen tier (from day 365)"] == "object-storage"
    assert {"tiering", "sharding", "cqrs"} <= set(strategies(smart_grid, "meter-samples"))
    policy = context(smart_grid, "meter-samples").schema["tiering_policy"]
    assert isinstance(policy, dict)
    assert policy["expire_after_days"] == 3650


def test_substations_that_never_move_keep_a_spatial_index_in_postgresql(smart_grid: DesignReport) -> None:
    assets = context(smart_grid, "grid-assets")
    assert families(smart_grid, "grid-assets")[0] == "relational"
    assert not any(t.choice.role.startswith("geo index") for t in assets.technologies)
    ddl = assets.schema["postgresql"]
    assert isinstance(ddl, str) and '"geo_substation_lat_lng"' in ddl and "USING gist" in ddl


def test_vessel_tracks_replayed_over_time_are_not_a_geo_index(vessel_tracking: DesignReport) -> None:
    found = roles(vessel_tracking, "vessel-positions")
    assert found["hot tier (system of record)"] == "time-series"
    assert not any(role.startswith("geo index") for role in found)
    assert "stream" in found.values()


def test_vessel_registry_is_documents_plus_search(vessel_tracking: DesignReport) -> None:
    found = families(vessel_tracking, "vessel-registry")
    assert found[0] == "document"
    assert "search" in found


def test_connections_are_a_graph_though_writes_dominate(pro_network: DesignReport) -> None:
    connections = context(pro_network, "connections")
    assert connections.selection.profile.dominant is not None
    assert not connections.selection.profile.dominant.is_read  # the busiest operation is a write
    assert families(pro_network, "connections")[0] == "graph"
    graph = connections.schema["graph"]
    assert isinstance(graph, dict)
    edges = {edge["type"]: edge for edge in graph["edges"]}
    assert edges["FOLLOWS"]["properties"] == ["since"]
    assert {"WORKS_AT", "ENDORSES"} <= set(edges)


def test_timeline_appends_read_as_ranges_are_wide_column(pro_network: DesignReport) -> None:
    assert families(pro_network, "timeline")[0] == "wide-column"
    design = context(pro_network, "timeline").schema["key_value"]
    assert isinstance(design, list)
    assert design[0]["partition_key"] == "member_id"
    assert design[0]["clustering_key"] == "posted_at"


def test_clinics_share_storage_with_row_level_isolation(clinic_saas: DesignReport) -> None:
    records = context(clinic_saas, "patient-records")
    assert records.selection.tenancy == "shared"
    assert families(clinic_saas, "patient-records")[0] == "relational"
    assert {"multi-tenancy", "event-sourcing"} <= set(strategies(clinic_saas, "patient-records"))
    assert any("row-level security" in tension for tension in records.analysis.tensions)
    ddl = records.schema["postgresql"]
    assert isinstance(ddl, str) and "ENABLE ROW LEVEL SECURITY" in ddl


def test_scans_are_tiered_object_storage(clinic_saas: DesignReport) -> None:
    found = roles(clinic_saas, "imaging")
    assert found["artifact store"] == "object-storage"
    assert "tiering" in strategies(clinic_saas, "imaging")
    assert "frozen tier (from day 365)" in found


@pytest.mark.parametrize("example", ["scooter_sharing", "smart_grid", "vessel_tracking", "pro_network", "clinic_saas"])
def test_variants_trace_every_choice(example: str, request: pytest.FixtureRequest) -> None:
    report: DesignReport = request.getfixturevalue(example)
    assert_reasons_traceable(report)
    assert not [w for w in report.warnings if "step" in w], report.warnings


def test_courier_positions_declared_as_measurements_stay_a_geo_index(examples_dir: Path) -> None:
    text = (examples_dir / "uber-eats.yaml").read_text(encoding="utf-8")
    as_measurements = text.replace("{name: CourierPosition, kind: event,", "{name: CourierPosition, kind: measurement,")
    assert as_measurements != text
    report = design(load_spec(as_measurements))
    assert families(report, "courier-logistics")[0] == "in-memory"
    assert "time-series" not in families(report, "courier-logistics")
