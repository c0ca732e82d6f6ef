"""A studio's footage lives under its tenant prefix, so a tenant export carries it (and no other studio's)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from datastrata.core.clock import FrozenClock
from datastrata.core.tenancy import tenant
from datastrata.systems.content.keys import footage_key, footage_owner
from datastrata.systems.content.service import ContentService
from datastrata.tenancy.export import export_tenant


def test_footage_keys_name_their_studio_in_both_layouts() -> None:
    key = footage_key("published", "hbo-max", "s1", 3)
    assert key == "tenants/hbo-max/content/published/s1/footage-v3"
    assert footage_owner(key) == ("hbo-max", "s1")
    assert footage_owner("content/archived/hbo-max/s1/footage-v1") == ("hbo-max", "s1")  # recorded before the layout
    assert footage_owner("tenants/hbo-max/other/s1") is None and footage_owner("tiering/x/day=1/part-0.parquet") is None


def test_a_studio_export_carries_its_footage_and_the_lifecycle_still_ages_it(
    lite: ContentService, clock: FrozenClock, tmp_path: Path
) -> None:
    with tenant("hbo-max"):
        lite.upload("s1", "Series", b"raw cut" * 10, budget="200000000")  # premium: STANDARD
        lite.publish("s1")
    with tenant("indie-creator"):
        lite.upload("s1", "Short", b"short")
    export_tenant(lite.runtime, "hbo-max", tmp_path / "export")
    manifest = json.loads((tmp_path / "export" / "objects" / "manifest.json").read_text())
    assert [(e["key"], e["copied"]) for e in manifest["objects"]] == [
        ("tenants/hbo-max/content/published/s1/footage-v1", True)
    ]
    clock.advance(timedelta(days=366))
    moved = lite.lifecycle_job().result["moved"]
    assert sorted((m["item"], m["to_class"]) for m in moved) == [
        ("tenants/hbo-max/content/published/s1/footage-v1", "STANDARD_IA"),
        ("tenants/indie-creator/content/production/s1/footage-v1", "GLACIER"),
    ]
