"""Hotspots: load counted on a by_shard runtime's real shards, flushed to the home store, detected and planned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datastrata.api.app import create_app
from datastrata.cli import app
from datastrata.core.config import Settings
from datastrata.core.events import NewEvent
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.sharding import DirectoryRouter, JumpRouter, RangeRouter, ShardMap
from datastrata.sharding.catalog import ShardCatalog
from datastrata.sharding.hotspots import Thresholds, detect
from datastrata.sharding.load import BAND_SLOTS, LoadMeter
from datastrata.sharding.loadstore import KeyLoad, LoadReport, ShardLoad, read_load
from datastrata.sharding.maps import ShardMaps
from datastrata.sharding.placement import ByShard, StoredMap, route_key
from datastrata.sharding.relieve import act
from datastrata.sharding.slots import SLOTS, slot_of
from datastrata.stores.open import open_database
from datastrata.tenancy.quota import payload_bytes
from tests.conftest import authenticated
from tests.sharding.resharding import (
    assert_each_once,
    catalogue,
    credit,
    events_on,
    rows_on,
    seed,
    sqlite_shards,
    store_of,
)

MAP = "accounts"
FULL = os.environ.get("DATASTRATA_FULL") == "1"


def _event() -> list[NewEvent]:
    return [NewEvent("Credited", {"amount": 1})]


class Clock:
    """A settable wall clock (seconds since the epoch)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _sqlite(tmp_path: Path) -> tuple[LocationSpec, dict[str, LocationSpec]]:
    home = LocationSpec("main", f"sqlite:///{tmp_path}/home.db", "", "")
    shards = {f"s{i}": LocationSpec(f"s{i}", f"sqlite:///{tmp_path}/s{i}.db", "", "") for i in range(3)}
    return home, shards


@contextmanager
def _runtime(
    home: LocationSpec, shards: dict[str, LocationSpec], tmp_path: Path, clock: Callable[[], float] | None = None
) -> Iterator[tuple[Runtime, ByShard]]:
    db = open_database(home.store)
    try:
        maps = ShardMaps(db)
        if not _has_map(maps):
            maps.create(MAP, JumpRouter(list(shards)))
    finally:
        db.close()
    db = open_database(home.store)
    placement = ByShard(StoredMap(ShardMaps(db), MAP), shards, home, contexts=["ledger"])
    if clock is not None:
        placement.meter = LoadMeter(MAP, placement.shards, clock=clock)
    settings = Settings(store=home.store, graph=f"ladybug:///{tmp_path}/graph")
    try:
        with Runtime.open(settings, placement=placement) as runtime:
            yield runtime, placement
    finally:
        db.close()


def _has_map(maps: ShardMaps) -> bool:
    try:
        maps.current(MAP)
    except Exception:
        return False
    return True


def _skewed(runtime: Runtime, *, hot: str = "hot", cold: int = 60) -> None:
    """Write every cold key twice and the hot key 150 times, reading it 50 times."""
    for n in range(cold):
        for _ in range(2):
            with runtime.transaction(Scope("ledger", f"user-{n}")) as work:
                work.append(_event())
    for _ in range(150):
        with runtime.transaction(Scope("ledger", hot)) as work:
            work.append(_event())
    for _ in range(50):
        with runtime.read(Scope("ledger", hot)) as work:
            work.scalar("SELECT 1")
    runtime.append(Scope("audit", "x"), _event())  # not a sharded context: no shard's load


def _check_skew(runtime: Runtime, placement: ByShard, clock: Clock) -> None:
    runtime.run_once()  # the worker's round runs the flush job
    report = read_load(runtime.db, MAP, window=10, clock=clock)
    assert report.seconds == pytest.approx(9.5)
    hot_shard = placement.route("hot").shard
    per_shard = {name: load.writes for name, load in report.shards.items()}
    expected: dict[str, int] = {}
    for n in range(60):
        expected[placement.route(f"user-{n}").shard] = expected.get(placement.route(f"user-{n}").shard, 0) + 2
    expected[hot_shard] = expected.get(hot_shard, 0) + 150
    assert per_shard == expected
    assert report.shards[hot_shard].reads == 50
    assert sum(s.bytes for s in report.shards.values()) == payload_bytes(_event()) * (120 + 150)
    found = detect(report, ShardMaps(runtime.db).current(MAP), Thresholds(key_qps=10, range_qps=1e6))
    assert [(h.kind, h.key, h.shard, h.action, h.target) for h in found] == [("key", "hot", hot_shard, "pin", "hot1")]
    assert found[0].qps == pytest.approx(200 / 9.5)


def test_a_skewed_workload_on_sqlite_shards_reports_exactly_the_hot_key(tmp_path: Path) -> None:
    home, shards = _sqlite(tmp_path)
    clock = Clock(1000.5)
    with _runtime(home, shards, tmp_path, clock) as (runtime, placement):
        _skewed(runtime)
        _check_skew(runtime, placement, clock)


def test_status_json_shows_load_per_shard_and_the_hot_key(tmp_path: Path) -> None:
    home, shards = _sqlite(tmp_path)
    with _runtime(home, shards, tmp_path) as (_, placement):
        _skewed(_, hot="vip")
        hot_shard = placement.route("vip").shard
    args = ["--store", home.store, "shards", "status", MAP, "--json", "--window", "600", "--key-qps", "0.2"]
    shown = CliRunner().invoke(app, args)  # the runtime flushed as it closed
    assert shown.exit_code == 0, shown.output
    [found] = json.loads(shown.output)["maps"]
    assert set(found) >= {"map", "epoch", "router", "window_seconds", "processes", "shards", "keys", "hotspots"}
    assert (found["map"], found["epoch"], found["router"], found["processes"]) == (MAP, 1, "jump", 1)
    assert [s["shard"] for s in found["shards"]] == ["s0", "s1", "s2"]
    assert set(found["shards"][0]) == {
        "shard",
        "reads",
        "writes",
        "bytes",
        "qps",
        "reads_per_s",
        "writes_per_s",
        "bytes_per_s",
    }
    assert sum(s["writes"] for s in found["shards"]) == 270 and sum(s["reads"] for s in found["shards"]) == 50
    assert found["keys"][0]["key"] == "vip" and found["keys"][0]["slot"] == slot_of("vip")
    assert [(h["kind"], h["key"], h["shard"], h["action"]) for h in found["hotspots"]] == [
        ("key", "vip", hot_shard, "pin")
    ]
    text = CliRunner().invoke(app, [a for a in args if a != "--json"])
    assert text.exit_code == 0 and "hot key 'vip'" in text.output
    every = CliRunner().invoke(app, ["--store", home.store, "shards", "status", "--json"])
    assert [m["map"] for m in json.loads(every.output)["maps"]] == [MAP]
    settings = Settings(store=home.store, graph=f"ladybug:///{tmp_path}/graph")
    with authenticated(create_app(settings, worker=False)) as http:
        answer = http.get("/shards/status", params={"map": MAP, "window": 600, "key_qps": 0.2})
        assert answer.status_code == 200, answer.text
        [served] = answer.json()["maps"]
        counts = ("shard", "reads", "writes", "bytes")
        assert [[s[c] for c in counts] for s in served["shards"]] == [[s[c] for c in counts] for s in found["shards"]]
        assert [h["key"] for h in served["hotspots"]] == ["vip"]
        hot = http.get(f"/shards/{MAP}/hotspots", params={"window": 600, "key_qps": 0.2}).json()
        assert [h["key"] for h in hot["hotspots"]] == ["vip"]
        assert http.get("/shards/nope/hotspots").status_code == 404
        assert http.get("/shards/status", params={"window": 0}).status_code == 422
    with authenticated(create_app(settings, worker=False), role="viewer") as http:
        assert http.get("/shards/status").status_code == 403  # an operator area


def _catalogued(settings: Settings, databases: Callable[[str], str] | None = None) -> LocationSpec:
    """Catalogue shards s0..s2 of the map (and hot1, unrouted), each with the ledger table."""
    return catalogue(settings, ["s0", "s1", "s2", "hot1"], ["s0", "s1", "s2"], databases)


def _held(
    settings: Settings, home: LocationSpec
) -> tuple[dict[str, dict[str, tuple[int, int]]], dict[str, Counter[str]]]:
    """Every shard's ledger rows and events per stream, read through a runtime over the catalogued shards."""
    db = open_database(settings.store)
    try:
        placement = ShardCatalog(db).placement(MAP, home)
        with Runtime.open(settings, placement=placement) as runtime:
            rows = {name: rows_on(runtime.location(spec)) for name, spec in placement.shards.items()}
            logs = {name: events_on(runtime.location(spec)) for name, spec in placement.shards.items()}
    finally:
        db.close()
    return rows, logs


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_auto_pins_the_hot_key_to_its_own_shard_and_moves_only_its_rows_and_events(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    store, databases = store_of(tmp_path, backend, request)
    settings = Settings(store=store, graph=f"ladybug:///{tmp_path}/graph")
    home = _catalogued(settings, databases)
    keys = [f"acct-{n}" for n in range(120)]
    hot = "acct-7"
    acked: Counter[str] = Counter()
    db = open_database(store)
    try:
        with Runtime.open(settings, placement=ShardCatalog(db).placement(MAP, home)) as runtime:
            seed(runtime, keys)
            for key in keys[:40]:
                credit(runtime, key)
                acked[key] += 1
            for _ in range(80):
                credit(runtime, hot)
                acked[hot] += 1
            source = runtime.placement.route(hot).shard  # type: ignore[attr-defined]
    finally:
        db.close()
    rows_before, logs_before = _held(settings, home)
    args = ["--store", store, "shards", "hotspots", MAP, "--window", "600", "--key-qps", "0.1", "--json"]
    shown = CliRunner().invoke(app, [*args, "--auto", "--grace", "0"])
    assert shown.exit_code == 0, shown.output
    [done] = json.loads(shown.output)["actions"]
    assert done["plan"] == {"action": "pin", "shard": source, "key": hot, "target": "hot1"}
    assert done["applied"] is True and done["status"]["state"] == "completed" and done["status"]["epoch"] == 2
    moves = [(m["source"], m["target"], m["range"], m["rows"]) for m in done["reshard"]["moves"]]
    assert moves == [(source, "hot1", {"runs": [], "keys": [hot], "excluded": []}, 1)]
    rows_after, logs_after = _held(settings, home)
    stream = f"ledger-{hot}"
    assert rows_after["hot1"] == {hot: rows_before[source][hot]} and logs_after["hot1"] == Counter({stream: 81})
    assert rows_after[source] == {k: v for k, v in rows_before[source].items() if k != hot}
    assert logs_after[source] == Counter({k: v for k, v in logs_before[source].items() if k != stream})
    for other in {"s0", "s1", "s2"} - {source}:  # every other shard as it was, row for row, event for event
        assert rows_after[other] == rows_before[other] and logs_after[other] == logs_before[other]
    current = ShardMaps(open_database(store)).current(MAP)
    before = ShardMap(JumpRouter(["s0", "s1", "s2"]))
    assert route_key(current, hot).shard == "hot1"
    assert all(route_key(current, k).shard == route_key(before, k).shard for k in keys if k != hot)
    again = CliRunner().invoke(app, [*args, "--auto"])  # alone on its shard now: nothing more to do
    result = json.loads(again.output)
    assert result["actions"] == [] and [h["action"] for h in result["hotspots"]] == [None]
    status = CliRunner().invoke(app, ["--store", store, "shards", "status", MAP, "--json"])
    [found] = json.loads(status.output)["maps"]
    assert found["epoch"] == 2 and found["reshard"]["state"] == "completed" and found["reshard"]["action"] == "pin"
    missing = CliRunner().invoke(app, ["--store", store, "shards", "hotspots", "nope"])
    assert missing.exit_code == 2 and "no shard map 'nope'" in missing.output
    bad = CliRunner().invoke(app, ["--store", store, "shards", "status", "Bad Name"])
    assert bad.exit_code == 2 and "map must be" in bad.output


WRITER = textwrap.dedent(
    """
    import os
    import signal
    import sys
    from datastrata.core.config import Settings
    from datastrata.core.events import NewEvent
    from datastrata.runtime.location import LocationSpec
    from datastrata.runtime.runtime import Runtime
    from datastrata.runtime.scope import Scope
    from datastrata.sharding.maps import ShardMaps
    from datastrata.sharding.placement import ByShard, StoredMap
    from datastrata.stores.open import open_database

    folder, count, killed = sys.argv[1], int(sys.argv[2]), sys.argv[3:] == ["kill"]
    home = LocationSpec("main", f"sqlite:///{folder}/home.db", "", "")
    shards = {f"s{i}": LocationSpec(f"s{i}", f"sqlite:///{folder}/s{i}.db", "", "") for i in range(3)}
    db = open_database(home.store)
    placement = ByShard(StoredMap(ShardMaps(db), "accounts"), shards, home, contexts=["ledger"])
    settings = Settings(store=home.store, graph=f"ladybug:///{folder}/graph")
    with Runtime.open(settings, placement=placement) as runtime:
        for n in range(count):
            with runtime.transaction(Scope("ledger", "hot" if n % 2 else f"k{n}")) as work:
                work.append([NewEvent("Credited", {"amount": 1})])
        if killed:  # flushed by a worker round, then more writes, then kill -9: those are lost, nothing else
            runtime.run_once()
            for n in range(25):
                with runtime.transaction(Scope("ledger", "hot")) as work:
                    work.append([NewEvent("Credited", {"amount": 1})])
            os.kill(os.getpid(), signal.SIGKILL)
    db.close()
    """
)


def test_processes_flushed_windows_add_up_in_status_and_a_killed_one_loses_only_its_unflushed(tmp_path: Path) -> None:
    home, shards = _sqlite(tmp_path)
    with _runtime(home, shards, tmp_path):  # the map and the stores exist before the writers start
        pass
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), *args], stderr=subprocess.PIPE)
        for args in (["40"], ["60"], ["10", "kill"])
    ]
    for writer, code in zip(writers, (0, 0, -9), strict=True):
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == code, err.decode()
    shown = CliRunner().invoke(app, ["--store", home.store, "shards", "status", MAP, "--json", "--window", "600"])
    [found] = json.loads(shown.output)["maps"]
    assert found["processes"] == 3  # the killed one's flushed window counts; what it had not flushed is lost
    assert sum(s["writes"] for s in found["shards"]) == 110
    hot = next(k for k in found["keys"] if k["key"] == "hot")
    assert hot["writes"] == 20 + 30 + 5 and hot["shard"] == route_key(ShardMap(JumpRouter(list(shards))), "hot").shard


def _report(shards: dict[str, ShardLoad], keys: list[KeyLoad]) -> LoadReport:
    return LoadReport(MAP, 10.0, 10.0, 1, shards, sorted(keys, key=lambda k: -k.qps))


def test_a_hot_range_is_split_where_its_load_halves_and_only_its_slots_move() -> None:
    router = RangeRouter(["s0", "s1"], [SLOTS // 2], key_type="int")
    shard_map = ShardMap(router, epoch=2)
    bands = {0: 10_000, 3: 10_000, 5: 20_000, 20: 1000}  # s0 holds bands 0..31
    load = ShardLoad("s0", 41_000, 0, 0, 10.0, bands)
    [hot] = detect(_report({"s0": load}, []), shard_map, Thresholds(key_qps=1e6, range_qps=3000))
    assert (hot.kind, hot.shard, hot.action, hot.target) == ("range", "s0", "split", "s0.1")
    assert hot.at_slot == 5 * BAND_SLOTS  # 20k before, 21k from there on
    assert hot.moved_share == pytest.approx(21 / 41)
    assert hot.runs == ((5 * BAND_SLOTS, SLOTS // 2 - 1),)
    cool = detect(_report({"s0": load}, []), shard_map, Thresholds(key_qps=1e6, range_qps=5000))
    assert cool == []


def test_a_shard_hot_only_because_of_a_hot_key_is_not_split() -> None:
    shard_map = ShardMap(JumpRouter(["s0", "s1"]), epoch=1)
    key = "celebrity"
    shard = route_key(shard_map, key).shard
    band = slot_of(key) // BAND_SLOTS
    load = ShardLoad(shard, 30_000, 1000, 0, 10.0, {band: 30_000, (band + 7) % 64: 1000})
    hot_key = KeyLoad(shard, key, 29_500, 0, 0, 0, 10.0)
    found = detect(_report({shard: load}, [hot_key]), shard_map, Thresholds(key_qps=1000, range_qps=2500))
    assert [(h.kind, h.key, h.action, h.target) for h in found] == [("key", key, "pin", "hot1")]


def test_a_key_alone_on_its_shard_already_needs_no_pin() -> None:
    directory = DirectoryRouter(JumpRouter(["s0", "s1"]), {"vip": "hot1"}, shards=["s0", "s1", "hot1"])
    shard_map = ShardMap(directory, epoch=3)
    load = ShardLoad("hot1", 9000, 0, 0, 10.0, {slot_of("vip") // BAND_SLOTS: 9000})
    vip = KeyLoad("hot1", "vip", 9000, 0, 0, 0, 10.0)
    other = KeyLoad("s0", "busy", 8000, 0, 0, 0, 10.0)
    found = detect(_report({"hot1": load}, [vip, other]), shard_map, Thresholds(key_qps=500, range_qps=1e6))
    assert [(h.key, h.action, h.target) for h in found] == [("vip", None, None), ("busy", "pin", "hot2")]
    assert "alone" in found[0].reason


def test_auto_splits_a_hot_range_and_every_key_stays_exactly_once(tmp_path: Path) -> None:
    stores = sqlite_shards(str(tmp_path), 2)
    stores.shards["s0.1"] = f"sqlite:///{tmp_path}/s0.1.db"  # the location the split's new shard takes
    stores.create_map(JumpRouter(["s0", "s1"]))
    clock = Clock(5000.5)
    with stores.open() as runtime:
        placement = runtime.placement
        assert isinstance(placement, ByShard)
        placement.meter = runtime.meter = LoadMeter(MAP, placement.shards, clock=clock)
        keys = [f"acct-{n}" for n in range(400)]
        seed(runtime, keys)
        mine = [k for k in keys if placement.route(k).shard == "s0"][:150]
        acked: Counter[str] = Counter()
        for key in mine:  # many keys of s0, none hot on its own
            credit(runtime, key)
            acked[key] += 1
        other = next(k for k in keys if placement.route(k).shard == "s1")
        credit(runtime, other)
        acked[other] += 1
        before = {k: placement.route(k).shard for k in keys}
        runtime.run_once()
        report = read_load(runtime.db, MAP, window=10, clock=clock)
        found = detect(report, ShardMaps(runtime.db).current(MAP), Thresholds(key_qps=5, range_qps=10))
        assert [(h.kind, h.shard, h.action, h.target) for h in found] == [("range", "s0", "split", "s0.1")]
        if not FULL:  # the bounded run stops here: the split itself runs under DATASTRATA_FULL=1
            return
        [done] = act(runtime, MAP, [h.to_dict() for h in found], grace=0.0)
        assert done["status"]["state"] == "completed"
        assert {(m["source"], m["target"]) for m in done["reshard"]["moves"]} == {("s0", "s0.1")}
        assert_each_once(runtime, keys, acked)
        after = {k: placement.route(k).shard for k in keys}
        moved = {k for k in keys if after[k] != before[k]}
        assert moved and all(before[k] == "s0" and after[k] == "s0.1" for k in moved)  # only s0's keys, to s0.1
        assert 0.3 < len(moved) / sum(1 for k in keys if before[k] == "s0") < 0.7  # about half of them
