"""`datastrata shards route`: the shard of a key by a quick router or a stored shard map, as text or JSON."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from datastrata.cli import app
from datastrata.sharding import DirectoryRouter, JumpRouter, RangeRouter, RingRouter, ShardMap


def test_route_by_kind_and_shards_matches_the_library() -> None:
    """--kind/--shards builds the same router the library does."""
    for key in ("user-1", "user-2", "acct-99"):
        shown = CliRunner().invoke(app, ["shards", "route", key, "--kind", "jump", "--shards", "s0,s1,s2,s3"])
        assert shown.exit_code == 0, shown.output
        assert shown.output.strip() == JumpRouter(["s0", "s1", "s2", "s3"]).route(key)
    ring = CliRunner().invoke(app, ["shards", "route", "k", "--kind", "ring", "--shards", "a,b", "--vnodes", "8"])
    assert ring.output.strip() == RingRouter(["a", "b"], vnodes=8).route("k")


def test_route_by_a_shard_map_file_names_the_epoch(tmp_path: Path) -> None:
    """A shard map file gives the shard and its epoch; int and bytes keys are read as --key-type says."""
    router = DirectoryRouter(RangeRouter(["a", "b"], [100], key_type="int"), {7: "iso"}, shards=["a", "b", "iso"])
    path = tmp_path / "map.json"
    path.write_text(json.dumps(ShardMap(router, epoch=3).to_dict()))
    out = CliRunner().invoke(app, ["shards", "route", "150", "--router", str(path), "--key-type", "int", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == {"key": "150", "key_type": "int", "shard": "b", "epoch": 3, "router": "directory"}
    pinned = CliRunner().invoke(app, ["shards", "route", "7", "--router", str(path), "--key-type", "int"])
    assert pinned.output.strip() == "iso (epoch 3)"
    bare = tmp_path / "router.json"
    bare.write_text(json.dumps(JumpRouter(["x", "y"]).to_dict()))
    hexed = CliRunner().invoke(app, ["shards", "route", "00ff", "--router", str(bare), "--key-type", "bytes"])
    assert hexed.output.strip() == JumpRouter(["x", "y"]).route(b"\x00\xff")


def test_bad_input_exits_2_with_the_fix(tmp_path: Path) -> None:
    """No router, both kinds of router, an unknown kind, a missing file or a bad key: one line, exit 2."""
    (tmp_path / "bad.json").write_text(json.dumps({"kind": "jump", "shards": []}))
    cases = [
        (["shards", "route", "k"], "give either --router FILE or --kind"),
        (["shards", "route", "k", "--kind", "range", "--shards", "a"], "--kind must be one of ring, jump, rendezvous"),
        (["shards", "route", "k", "--kind", "jump"], "--shards is required"),
        (["shards", "route", "k", "--kind", "jump", "--shards", "a", "--vnodes", "3"], "--vnodes applies to"),
        (["shards", "route", "k", "--router", str(tmp_path / "none.json")], "does not exist"),
        (["shards", "route", "k", "--router", str(tmp_path / "bad.json")], "at least one shard"),
        (["shards", "route", "k", "--kind", "jump", "--shards", "a", "--key-type", "int"], "whole number"),
        (["shards", "route", "zz", "--kind", "jump", "--shards", "a", "--key-type", "bytes"], "hex digits"),
    ]
    for args, message in cases:
        out = CliRunner().invoke(app, args)
        assert out.exit_code == 2, (args, out.output)
        assert message in out.output, (args, out.output)
