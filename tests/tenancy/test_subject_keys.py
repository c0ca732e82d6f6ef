"""Subject keys are wrapped with the one platform key; without it nothing personal is sealed (or written)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datastrata.cli import app as cli
from datastrata.core.config import Settings
from datastrata.core.errors import ConfigurationError
from datastrata.runtime import Runtime
from datastrata.systems.food.service import FoodService
from datastrata.systems.portfolio.service import PortfolioService
from datastrata.tenancy.secrets import KEY_VARIABLE, open_sealed, seal
from datastrata.tenancy.subject_keys import unwrap

AIKO = {"lat": 35.681236, "lon": 139.767125}


@pytest.fixture
def runtime(store_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on each backend with a graph file for the food system."""
    with Runtime.open(Settings(store=store_url, graph=f"ladybug:///{tmp_path / 'graph'}")) as opened:
        yield opened


def _count(runtime: Runtime, sql: str) -> int:
    with runtime.db.read() as tx:
        return int(tx.scalar(sql))


def test_a_personal_field_is_refused_without_the_platform_key_and_nothing_is_written(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_VARIABLE)
    with pytest.raises(ConfigurationError, match=f"{KEY_VARIABLE} is not set: personal fields") as refused:
        runtime.service("food", FoodService).add_user("aiko", **AIKO)
    assert refused.value.field == KEY_VARIABLE and "make one with" in refused.value.message
    assert _count(runtime, "SELECT COUNT(*) FROM eventlog_events") == 0
    assert _count(runtime, "SELECT COUNT(*) FROM tenancy_subject_keys") == 0
    assert _count(runtime, "SELECT COUNT(*) FROM food_users") == 0
    runtime.service("portfolio", PortfolioService).deposit("P1", "10")  # nothing personal: no key needed
    assert _count(runtime, "SELECT COUNT(*) FROM eventlog_events") == 1


def test_subject_keys_wrap_with_the_catalogues_key_in_base64_or_hex(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = os.urandom(32)
    monkeypatch.setenv(KEY_VARIABLE, raw.hex())
    runtime.service("food", FoodService).add_user("aiko", **AIKO)
    sealed = seal("acme", "postgresql://u:pw@h/db")
    with runtime.db.read() as tx:
        stored = str(tx.scalar("SELECT key_enc FROM tenancy_subject_keys WHERE subject = 'user:aiko'"))
    assert stored.startswith("v1:")
    monkeypatch.setenv(KEY_VARIABLE, base64.urlsafe_b64encode(raw).decode())  # the same 32 bytes, as base64
    assert len(unwrap(stored)) == 32 and open_sealed("acme", sealed) == "postgresql://u:pw@h/db"
    reader = Runtime.open(runtime.settings)  # a process of its own: nothing unwrapped cached
    try:
        (event,) = reader.log.read_all()
        assert (event.payload["lat"], event.payload["lon"]) == (AIKO["lat"], AIKO["lon"])
    finally:
        reader.close()


def test_a_key_an_earlier_release_stored_unwrapped_still_opens(runtime: Runtime) -> None:
    runtime.service("food", FoodService).add_user("aiko", **AIKO)
    with runtime.db.transaction() as tx:  # what a release that allowed no platform key stored
        stored = str(tx.scalar("SELECT key_enc FROM tenancy_subject_keys WHERE subject = 'user:aiko'"))
        unwrapped = "raw:" + base64.b64encode(unwrap(stored)).decode()
        tx.execute("UPDATE tenancy_subject_keys SET key_enc = ? WHERE subject = 'user:aiko'", (unwrapped,))
    reader = Runtime.open(runtime.settings)
    try:
        assert reader.log.read_all()[0].payload["lat"] == AIKO["lat"]
    finally:
        reader.close()


def test_the_command_line_names_the_variable_and_the_fix(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_VARIABLE)
    done = CliRunner().invoke(
        cli, ["--store", sqlite_url, "food", "user", "add", "aiko", "--lat", "35", "--lon", "139"]
    )
    assert done.exit_code == 2 and KEY_VARIABLE in done.stderr and "make one with" in done.stderr
