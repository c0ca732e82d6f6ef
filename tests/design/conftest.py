"""Fixtures for the design advisor tests: the example specs and their reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from datastrata.design import DesignReport, design, load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    """The repository's examples/ folder."""
    return EXAMPLES


def _report(name: str) -> DesignReport:
    return design(load_spec(EXAMPLES / name))


@pytest.fixture(scope="session")
def netflix() -> DesignReport:
    """The Netflix example, designed."""
    return _report("netflix.yaml")


@pytest.fixture(scope="session")
def uber_eats() -> DesignReport:
    """The Uber Eats example, designed."""
    return _report("uber-eats.yaml")


@pytest.fixture(scope="session")
def tsmc_fab() -> DesignReport:
    """The TSMC wafer fab example, designed."""
    return _report("tsmc-fab.yaml")


@pytest.fixture(scope="session")
def ten_contexts() -> DesignReport:
    """The ten-context marketplace, designed."""
    return _report("ten-contexts.yaml")


@pytest.fixture(scope="session")
def scooter_sharing() -> DesignReport:
    """The scooter-sharing variant (geo), designed."""
    return _report("scooter-sharing.yaml")


@pytest.fixture(scope="session")
def smart_grid() -> DesignReport:
    """The smart-grid variant (time series), designed."""
    return _report("smart-grid.yaml")


@pytest.fixture(scope="session")
def vessel_tracking() -> DesignReport:
    """The vessel-tracking contrast case (time series, not geo), designed."""
    return _report("vessel-tracking.yaml")


@pytest.fixture(scope="session")
def pro_network() -> DesignReport:
    """The professional-network variant (graph), designed."""
    return _report("pro-network.yaml")


@pytest.fixture(scope="session")
def clinic_saas() -> DesignReport:
    """The clinic SaaS variant (multi-tenancy), designed."""
    return _report("clinic-saas.yaml")


@pytest.fixture(scope="session")
def fintech() -> DesignReport:
    """The article's fintech platform (accounts, transactions, risk, reporting), designed."""
    return _report("fintech.yaml")


@pytest.fixture(scope="session")
def iot() -> DesignReport:
    """The article's IoT platform (devices, ingestion, analytics, notifications), designed."""
    return _report("iot.yaml")
