"""Fixtures: real LadybugDB files under tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datastrata.graph.food import FoodGraph


@pytest.fixture
def food(tmp_path: Path) -> Iterator[FoodGraph]:
    """An empty food graph in a fresh LadybugDB file."""
    graph = FoodGraph.open(tmp_path / "food.lbdb")
    yield graph
    graph.close()
