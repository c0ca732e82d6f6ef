"""`tenants export`: every fact of one tenant in open formats (JSON lines, CSV + schema.json, objects + manifest)."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from datastrata.cli import app as cli
from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.core.errors import ValidationError
from datastrata.core.tenancy import tenant
from datastrata.runtime import Runtime
from datastrata.systems.food.service import FoodService
from datastrata.systems.masterdata.service import MasterDataService
from datastrata.tenancy.erasure import erase
from datastrata.tenancy.export import TENANT_EXPORTED, export_tenant, record_scope
from datastrata.tenancy.personal import ERASED
from datastrata.tiering.objects import ObjectStore

NOW = datetime(2025, 10, 1, 12, tzinfo=UTC)


@pytest.fixture
def runtime(store_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on each backend with a graph file and an objects folder, two tenants' data in it."""
    settings = Settings(
        store=store_url, graph=f"ladybug:///{tmp_path / 'graph'}", objects=f"file://{tmp_path / 'objects'}"
    )
    opened = Runtime.open(settings, clock=FrozenClock(NOW))
    food = opened.service("food", FoodService)
    masterdata = opened.service("masterdata", MasterDataService)
    for t, lat in (("acme", 35.5), ("globex", 40.25)):
        with tenant(t):
            food.add_user("aiko", lat=lat, lon=139.0)
            food.add_user("ben", lat=lat + 1, lon=135.0)
            masterdata.put("customer", "C1", {"name": f"Aiko of {t}", "email": "aiko@example.com"}, actor="t")
            masterdata.put("customer", "C1", {"name": f"Aiko of {t}", "phone": 'say "hi"'}, actor="t")
    yield opened
    opened.close()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_an_export_holds_the_tenants_events_rows_and_objects_and_nothing_of_another(
    runtime: Runtime, tmp_path: Path
) -> None:
    objects = ObjectStore(runtime.home.spec.objects, clock=runtime.clock)
    objects.put("tenants/acme/photos/a.jpg", b"\x00jpeg-bytes")
    objects.put("tenants/acme/cold/old.bin", b"archived", storage_class="GLACIER")
    objects.put("tenants/globex/photos/g.jpg", b"globex")
    with tenant("acme"):
        erase(runtime, "user:aiko", actor="test")

    done = export_tenant(runtime, "acme", tmp_path / "export")

    folder = tmp_path / "export"
    assert {p.name for p in folder.iterdir()} == {"README.md", "events", "tables", "objects", "cold"}
    lines = [json.loads(x) for x in (folder / "events" / "main.jsonl").read_text().splitlines()]
    in_log = [e.to_dict() for e in runtime.log.read_all() if e.tenant_id == "acme"]
    assert lines == json.loads(json.dumps(in_log)) and done.events == len(lines) == 5
    assert [x["position"] for x in lines] == sorted(x["position"] for x in lines)
    users = {x["payload"]["user_id"]: x["payload"] for x in lines if x["type"] == "UserRegistered"}
    assert users["aiko"]["lat"] == ERASED and users["ben"]["lat"] == 36.5  # erased stays erased in the export
    assert "$personal" not in (folder / "events" / "main.jsonl").read_text()

    schema = json.loads((folder / "tables" / "schema.json").read_text())["tables"]
    food_users = _rows(folder / "tables" / "main" / "food_users.csv")
    assert sorted((r["tenant_id"], r["user_id"], float(r["lat"])) for r in food_users) == [
        ("acme", "aiko", 0.0),
        ("acme", "ben", 36.5),
    ]
    assert [c["name"] for c in schema["main/food_users"]["columns"]][:3] == ["tenant_id", "user_id", "lat"]
    assert schema["main/food_users"]["rows"] == 2
    for entry in schema.values():
        assert all(r["tenant_id"] == "acme" for r in _rows(folder / entry["file"]))
    assert "tenancy_subject_keys" not in {e["table"] for e in schema.values()}  # keys never leave the store
    current = _rows(folder / "tables" / "main" / "master_data_current.csv")
    assert json.loads(current[0]["attributes"])["phone"] == 'say "hi"'  # quotes survive the CSV
    raw = (folder / "tables" / "main" / "master_data_current.csv").read_text()
    assert '",,"' in raw  # NULL (valid_to): an empty unquoted field between quoted values

    manifest = {o["key"]: o for o in json.loads((folder / "objects" / "manifest.json").read_text())["objects"]}
    assert set(manifest) == {"tenants/acme/photos/a.jpg", "tenants/acme/cold/old.bin"}
    photo = manifest["tenants/acme/photos/a.jpg"]
    assert photo["copied"] and photo["class"] == "STANDARD"
    assert photo["sha256"] == hashlib.sha256((folder / photo["file"]).read_bytes()).hexdigest()
    assert (folder / photo["file"]).read_bytes() == b"\x00jpeg-bytes"
    assert manifest["tenants/acme/cold/old.bin"]["copied"] is False  # archived: listed, to restore first
    assert done.not_copied == ("main/tenants/acme/cold/old.bin",)
    readme = (folder / "README.md").read_text()
    assert "JSON Lines" in readme and "RFC 4180" in readme and "SHA-256" in readme

    records = runtime.stream(record_scope("acme"))
    assert [r.type for r in records] == [TENANT_EXPORTED] and records[0].tenant_id == "default"
    assert records[0].payload["heads"] == {"main": max(x["position"] for x in lines)}


def test_an_export_refuses_a_folder_that_holds_something_and_writes_nothing_there(
    runtime: Runtime, tmp_path: Path
) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    with pytest.raises(ValidationError, match="not an empty folder"):
        export_tenant(runtime, "acme", taken)
    assert [p.name for p in taken.iterdir()] == ["keep.txt"]
    assert runtime.stream(record_scope("acme")) == []


def test_tenants_export_on_the_command_line(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runtime: Runtime
) -> None:
    monkeypatch.setenv("DATASTRATA_STORE", store_url)
    monkeypatch.setenv("DATASTRATA_GRAPH", f"ladybug:///{tmp_path / 'graph'}")
    answer = CliRunner().invoke(cli, ["tenants", "export", "globex", "--to", str(tmp_path / "out"), "--json"])
    assert answer.exit_code == 0, answer.output
    shown: dict[str, Any] = json.loads(answer.output)
    assert shown["tenant"] == "globex" and shown["events"] == 4 and shown["rows"] > 0
    bad = CliRunner().invoke(cli, ["tenants", "export", "Not A Tenant", "--to", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "tenant_id" in bad.output


def test_an_export_holds_the_tenants_archived_streams_read_from_their_segments(store_url: str, tmp_path: Path) -> None:
    from datastrata.tiering.moves import Mover
    from datastrata.tiering.policy import parse_policy
    from datastrata.tiering.segments import readers_of
    from tests.tiering.segmentdata import NOW as THEN
    from tests.tiering.segmentdata import POLICY, create_matches

    clock = FrozenClock(THEN)
    settings = Settings(store=store_url, objects=f"file://{tmp_path / 'objects'}")
    with Runtime.open(settings, clock=clock) as runtime:
        for who in ("acme", "globex"):
            with tenant(who):
                create_matches(runtime.log, clock)
        clock.set(THEN)
        objects = ObjectStore(settings.objects, clock=clock)
        runtime.run_once()
        mover = Mover(runtime.db, objects, parse_policy(POLICY), clock=clock, readers=lambda: readers_of(runtime))
        mover.run(mover.plan(THEN))
        with tenant("acme"):
            archived = {s.stream_id: s for s in runtime.log.archived() if s.tenant_id == "acme"}
            every = [
                e.to_dict()
                for s in ("match-a", "match-b", "match-c", "match-d", "match-e", "team-x")
                for e in runtime.log.read(s, tenant="acme")
            ]
        assert sorted(archived) == ["match-a", "match-b", "match-d"]  # their events left the online log
        objects.set_class(archived["match-d"].location, "GLACIER")  # frozen, not restored: listed, not exported

        done = export_tenant(runtime, "acme", tmp_path / "acme")

    folder = tmp_path / "acme"
    lines = [json.loads(x) for x in (folder / "events" / "main.jsonl").read_text().splitlines()]
    frozen = {e["event_id"] for e in every if e["stream_id"] == "match-d"}
    assert lines == sorted(
        (e for e in json.loads(json.dumps(every)) if e["event_id"] not in frozen), key=lambda e: e["position"]
    )
    assert {x["tenant_id"] for x in lines} == {"acme"} and {"match-a", "match-b"} <= {x["stream_id"] for x in lines}
    streams = {s["stream_id"]: s for s in json.loads((folder / "events" / "archived.json").read_text())["streams"]}
    assert sorted(streams) == ["match-a", "match-b", "match-d"]
    assert streams["match-a"]["exported"] and streams["match-a"]["object"] == archived["match-a"].location
    assert not streams["match-d"]["exported"] and "restore" in streams["match-d"]["reason"]
    assert done.not_copied == ("main/match-d",) and done.events == len(lines)
    records = _rows(folder / "tables" / "main" / "eventlog_archived_streams.csv")
    assert sorted(r["stream_id"] for r in records) == ["match-a", "match-b", "match-d"]


def test_an_export_holds_the_tenants_rows_a_policy_moved_to_cold_parquet_parts(store_url: str, tmp_path: Path) -> None:
    from datastrata.stores.database import time_to_db
    from datastrata.tiering.moves import Mover
    from datastrata.tiering.policy import parse_policy
    from tests.tiering.rowdata import NOW as THEN

    policy = {
        "name": "t",
        "datasets": {
            "readings": {
                "kind": "rows",
                "table": "tenant_readings",
                "time_column": "ts",
                "rules": [{"after": "3d", "to": "cold"}],
            }
        },
    }
    clock = FrozenClock(THEN)
    settings = Settings(store=store_url, objects=f"file://{tmp_path / 'objects'}")
    with Runtime.open(settings, clock=clock) as runtime:
        with runtime.db.transaction() as tx:
            time_type = "TEXT" if tx.dialect == "sqlite" else "TIMESTAMPTZ"
            tx.run_script(
                "CREATE TABLE tenant_readings (tenant_id TEXT NOT NULL, sensor TEXT NOT NULL, "
                f"ts {time_type} NOT NULL, value DOUBLE PRECISION NOT NULL)"
            )
            rows = [
                (who, f"s{i}", time_to_db(tx.dialect, THEN - timedelta(days=d, hours=i)), float(d * 10 + i))
                for who in ("acme", "globex")
                for d in (1, 5, 6)
                for i in range(3)
            ]
            tx.executemany("INSERT INTO tenant_readings VALUES (?, ?, ?, ?)", rows)
        objects = ObjectStore(settings.objects, clock=clock)
        mover = Mover(runtime.db, objects, parse_policy(policy), clock=clock)
        mover.run(mover.plan(THEN))
        with runtime.db.read() as tx:
            online = tx.query("SELECT tenant_id, value FROM tenant_readings ORDER BY tenant_id, value")
        assert online == [(who, float(10 + i)) for who in ("acme", "globex") for i in range(3)]  # old days left

        export_tenant(runtime, "acme", tmp_path / "acme")

    folder = tmp_path / "acme"
    parts = json.loads((folder / "cold" / "manifest.json").read_text())["parts"]
    assert parts and all(p["copied"] and p["dataset"] == "readings" for p in parts)
    cold = [r for p in parts for r in _rows(folder / p["file"])]
    assert sorted(float(r["value"]) for r in cold) == [float(d * 10 + i) for d in (5, 6) for i in range(3)]
    assert {r["tenant_id"] for r in cold} == {"acme"} and sum(p["rows"] for p in parts) == 6
    for p in parts:  # the checksum names the Parquet part the rows were read from
        assert p["sha256"] == hashlib.sha256((tmp_path / "objects" / p["object"]).read_bytes()).hexdigest()
    online_csv = _rows(folder / "tables" / "main" / "tenant_readings.csv")
    assert sorted(float(r["value"]) for r in online_csv) == [10.0, 11.0, 12.0]
