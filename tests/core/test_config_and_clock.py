"""Configuration by URL and clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datastrata.core.clock import FrozenClock, parse_time
from datastrata.core.config import Settings, load_settings, sqlite_path
from datastrata.core.errors import ConfigurationError, ValidationError
from datastrata.stores.open import open_database


def test_flags_beat_environment_beat_file(tmp_path: Path) -> None:
    toml = tmp_path / "datastrata.toml"
    toml.write_text('[datastrata]\nstore = "sqlite:///from-file.db"\nbus = "redis://file:6379/0"\n')
    env = {"DATASTRATA_STORE": "sqlite:///from-env.db"}
    settings = load_settings({"cache": "redis://flag:6379/0"}, environ=env, config_file=toml)
    assert settings == Settings(
        store="sqlite:///from-env.db",
        bus="redis://file:6379/0",
        cache="redis://flag:6379/0",
    )
    assert load_settings(environ={}, config_file=tmp_path / "missing.toml").store.endswith(".datastrata/datastrata.db")


def test_bad_urls_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not supported"):
        open_database("mysql://x/y")
    with pytest.raises(ConfigurationError, match="no scheme"):
        open_database("just-a-path.db")
    with pytest.raises(ConfigurationError, match="names no file"):
        sqlite_path("sqlite:///:memory:")
    assert sqlite_path("sqlite:////abs/x.db") == Path("/abs/x.db")
    assert sqlite_path("sqlite:///rel/x.db") == Path("rel/x.db")


def test_frozen_clock_and_time_parsing() -> None:
    clock = FrozenClock(datetime(2025, 1, 1, tzinfo=UTC))
    assert clock.advance(timedelta(days=1)) == datetime(2025, 1, 2, tzinfo=UTC) == clock()
    assert parse_time("2025-09-12T10:00:00+09:00", field="at") == datetime(2025, 9, 12, 1, tzinfo=UTC)
    with pytest.raises(ValidationError, match="timezone-aware"):
        parse_time("2025-09-12T10:00:00", field="at")
