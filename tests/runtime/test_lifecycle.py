"""Lifecycle: the runtime closes what it opened, in reverse order: graph handles, bus subscriptions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from datastrata.core.config import Settings
from datastrata.graph.ownership import owner
from datastrata.runtime import Runtime
from datastrata.stores.graphdb import ladybug_path
from datastrata.systems.food.service import install
from datastrata.systems.masterdata.service import MasterDataService


def test_closing_the_runtime_releases_the_graph_for_another_process(tmp_path: Path) -> None:
    settings = Settings.embedded(tmp_path)
    runtime = Runtime.open(settings)
    svc = install(runtime)
    svc.add_user("A", lat=1.0, lon=2.0)
    assert svc.catch_up() == 1  # opens the graph
    assert (owner(ladybug_path(settings.graph)) or {}).get("pid") == os.getpid()
    runtime.close()
    opened = subprocess.run(
        [sys.executable, "-c", f"from datastrata.graph import shared; shared.acquire({settings.graph!r})"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert opened.returncode == 0, opened.stderr


def test_the_runtime_unsubscribes_what_subscribed(tmp_path: Path) -> None:
    runtime = Runtime.open(Settings.embedded(tmp_path))
    runtime.service("masterdata", MasterDataService)
    assert len(runtime.bus.subscriptions) == 3  # type: ignore[attr-defined]
    runtime.close()
    assert runtime.bus.subscriptions == []  # type: ignore[attr-defined]
