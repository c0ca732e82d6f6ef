"""The article's three worked examples reach the article's own selections, with reasons."""

from __future__ import annotations

from datastrata.design.report import DesignReport

from .helpers import assert_reasons_traceable, context, families, roles, strategies


def test_fab_tiers_time_series_hot_and_warm(tsmc_fab: DesignReport) -> None:
    tiers = roles(tsmc_fab, "sensor-telemetry")
    assert tiers["hot tier (system of record)"] == "time-series"
    assert tiers["warm tier"] == "time-series"
    telemetry = context(tsmc_fab, "sensor-telemetry")
    aws = [t.choice.offering.aws for t in telemetry.technologies]
    assert "Amazon Timestream (memory store)" in aws
    assert "Amazon Timestream (magnetic store)" in aws


def test_fab_cold_tier_is_object_storage_queried_by_sql(tsmc_fab: DesignReport) -> None:
    tiers = roles(tsmc_fab, "sensor-telemetry")
    assert tiers["cold tier (days 90-365)"] == "object-storage"
    assert tiers["cold-tier query (SQL over Parquet)"] == "columnar"
    assert tiers["frozen tier (from day 365)"] == "object-storage"
    policy = context(tsmc_fab, "sensor-telemetry").schema["tiering_policy"]
    assert isinstance(policy, dict)
    assert [t["tier"] for t in policy["tiers"]] == ["hot", "warm", "cold", "frozen"]
    assert policy["expire_after_days"] == 2555  # the article's ExpireAfter7Years rule


def test_fab_chooses_tiering_and_cqrs(tsmc_fab: DesignReport) -> None:
    chosen = strategies(tsmc_fab, "sensor-telemetry")
    assert "tiering" in chosen
    assert "cqrs" in chosen


def test_fab_time_series_mapping_follows_article_retention(tsmc_fab: DesignReport) -> None:
    mapping = context(tsmc_fab, "sensor-telemetry").schema["time_series"]
    assert isinstance(mapping, list)
    assert mapping[0]["memory_store_retention_hours"] == 24
    assert mapping[0]["magnetic_store_retention_days"] == 90
    assert mapping[0]["measures"] == ["value"]


def test_netflix_catalog_is_document_plus_search(netflix: DesignReport) -> None:
    found = families(netflix, "catalog")
    assert found[0] == "document"
    assert "search" in found


def test_netflix_recommendations_are_a_graph(netflix: DesignReport) -> None:
    assert families(netflix, "recommendations")[0] == "graph"
    assert "graph" in strategies(netflix, "recommendations")


def test_netflix_viewing_history_is_key_value_or_wide_column(netflix: DesignReport) -> None:
    assert families(netflix, "viewing-history")[0] in ("key-value", "wide-column")
    design = context(netflix, "viewing-history").schema["key_value"]
    assert isinstance(design, list)
    assert design[0]["partition_key"] == "profile_id"


def test_netflix_accounts_and_payments_are_relational(netflix: DesignReport) -> None:
    assert families(netflix, "accounts")[0] == "relational"


def test_netflix_studios_get_the_multi_tenancy_guide(netflix: DesignReport) -> None:
    studio = context(netflix, "studio-content")
    assert studio.selection.tenancy == "dedicated-storage"
    assert "multi-tenancy" in strategies(netflix, "studio-content")
    assert "tiering" in strategies(netflix, "studio-content")


def test_uber_eats_orders_are_key_value(uber_eats: DesignReport) -> None:
    assert families(uber_eats, "orders")[0] == "key-value"


def test_uber_eats_restaurants_are_relational_with_a_cache(uber_eats: DesignReport) -> None:
    found = roles(uber_eats, "restaurants")
    assert found["system of record"] == "relational"
    assert found["read cache"] == "in-memory"
    assert "master-data" in strategies(uber_eats, "restaurants")


def test_uber_eats_couriers_are_in_memory_geo_plus_stream(uber_eats: DesignReport) -> None:
    found = families(uber_eats, "courier-logistics")
    assert found[0] == "in-memory"
    assert "stream" in found
    schema = context(uber_eats, "courier-logistics").schema["in_memory"]
    assert isinstance(schema, list)
    assert schema[0]["type"] == "geo set"


def test_uber_eats_recommendations_are_a_graph(uber_eats: DesignReport) -> None:
    assert families(uber_eats, "recommendations")[0] == "graph"
    graph = context(uber_eats, "recommendations").schema["graph"]
    assert isinstance(graph, dict)
    edges = {edge["type"]: edge for edge in graph["edges"]}
    assert edges["ORDERED"]["properties"] == ["date", "rating", "count"]
    assert {"FAVORITED", "SERVES", "CONTAINS"} <= set(edges)


def test_uber_eats_cross_context_atomicity_is_a_saga(uber_eats: DesignReport) -> None:
    orders = context(uber_eats, "orders")
    assert orders.selection.saga_partners == ("payments",)
    assert any("saga" in tension and "not a distributed transaction" in tension for tension in orders.analysis.tensions)
    assert "queue" in families(uber_eats, "orders")
    rules = [r.rule for s in context(uber_eats, "payments").selection.strategies for r in s.because]
    assert "saga" in rules


def test_every_choice_names_its_rule_article_and_spec_lines(
    netflix: DesignReport, uber_eats: DesignReport, tsmc_fab: DesignReport
) -> None:
    for report in (netflix, uber_eats, tsmc_fab):
        assert_reasons_traceable(report)
