"""Opening a named shard map: provisioned once, the same shards again, epoch 1 a jump hash, stores given catalogued."""

from __future__ import annotations

from pathlib import Path

import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import ValidationError
from datastrata.runtime.location import LocationSpec
from datastrata.sharding.opening import open_map

SHARDS = ["a", "b", "c"]


def _home(tmp_path: Path) -> tuple[Settings, LocationSpec]:
    settings = Settings.embedded(tmp_path)
    return settings, LocationSpec("home", settings.store, "", "")


def test_a_map_is_provisioned_once_and_opened_again_as_it_is(tmp_path: Path) -> None:
    settings, home = _home(tmp_path)
    first = open_map(settings, "accounts", home, SHARDS, contexts=["ledger"])
    try:
        stores = {name: spec.store for name, spec in first.placement.shards.items()}
        routed = {key: first.placement.route(key) for key in ("ann", "bo", "cy", "dee")}
    finally:
        first.close()
    assert sorted(stores) == SHARDS and all(Path(s.removeprefix("sqlite:///")).is_file() for s in stores.values())
    assert {r.epoch for r in routed.values()} == {1}
    again = open_map(settings, "accounts", home, ["x"], contexts=["ledger"])  # known shards win over new names
    try:
        assert {name: spec.store for name, spec in again.placement.shards.items()} == stores
        assert {key: again.placement.route(key) for key in routed} == routed  # stable across openings
        assert again.placement.sharded("ledger") and not again.placement.sharded("other")
    finally:
        again.close()


def test_named_stores_are_catalogued_and_another_store_under_a_known_name_is_refused(tmp_path: Path) -> None:
    settings, home = _home(tmp_path)
    stores = {name: f"sqlite:///{tmp_path / name}.db" for name in SHARDS}
    opened = open_map(settings, "orders", home, [], contexts=["orders"], stores=stores)
    try:
        assert {name: spec.store for name, spec in opened.placement.shards.items()} == stores
    finally:
        opened.close()
    with pytest.raises(ValidationError, match="already") as refused:
        open_map(settings, "orders", home, [], contexts=["orders"], stores={"a": f"sqlite:///{tmp_path}/z.db"})
    assert refused.value.field == "store_url"
