"""Embedded files of one store live together: a new --store gets its own graph unless --graph says otherwise."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from datastrata.cli import app
from datastrata.core.config import Settings, beside_store, load_settings

runner = CliRunner()


def test_graph_and_objects_live_beside_the_store_unless_named(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/shop.db"
    assert Settings(store=store).graph == f"ladybug:///{tmp_path}/shop.graph"
    assert Settings(store=store).objects == f"file://{tmp_path}/shop.objects"
    # the home store keeps the folder layout it always had, so existing ./.datastrata homes keep their graph
    assert Settings() == Settings(graph="ladybug:///.datastrata/graph", objects="file://.datastrata/objects")
    assert Settings.embedded(tmp_path).graph == f"ladybug:///{tmp_path}/graph"
    # a derived graph follows a new store; a named one stays where it was named (flag, variable or file)
    assert Settings().with_overrides({"store": store}).graph == beside_store(store, "graph")
    named = load_settings({"store": store}, environ={"DATASTRATA_GRAPH": "ladybug:///elsewhere"})
    assert named.graph == "ladybug:///elsewhere" and named.objects == f"file://{tmp_path}/shop.objects"
    toml = tmp_path / "datastrata.toml"
    toml.write_text('[datastrata]\ngraph = "ladybug:///from-file"\n')
    assert load_settings({"store": store}, environ={}, config_file=toml).graph == "ladybug:///from-file"


def test_a_postgresql_store_gets_a_folder_named_after_its_database() -> None:
    settings = Settings(store="postgresql://app:secret@db.example:5433/shop")
    assert settings.graph == "ladybug:///.datastrata/postgresql-db.example-5433-shop/graph"
    assert "secret" not in settings.graph + settings.objects
    assert Settings(store="postgresql://app@db.example:5433/other").graph != settings.graph


def test_a_new_store_does_not_answer_from_the_old_stores_graph(tmp_path: Path) -> None:
    old, new = f"sqlite:///{tmp_path}/old.db", f"sqlite:///{tmp_path}/new.db"
    for command in (["user", "add", "A", "--lat", "35.6", "--lon", "139.7"], ["lag", "--json"]):
        done = runner.invoke(app, ["--store", old, "food", *command])
        assert done.exit_code == 0, done.stderr
    caught_up = runner.invoke(app, ["--store", old, "food", "recommend", "A", "--json"])  # applies the waiting event
    assert caught_up.exit_code == 0, caught_up.stderr

    def graph_position(*flags: str) -> int:
        done = runner.invoke(app, [*flags, "food", "lag", "--json"])
        assert done.exit_code == 0, done.stderr
        return int(json.loads(done.stdout)["position"])

    assert graph_position("--store", old) >= 1
    assert runner.invoke(app, ["--store", new, "migrate"]).exit_code == 0  # reads never create a store
    assert graph_position("--store", new) == 0  # its own, new graph beside new.db
    assert (tmp_path / "old.graph").exists() and (tmp_path / "new.graph").exists()
    assert graph_position("--store", new, "--graph", f"ladybug:///{tmp_path}/chosen") == 0  # unless told
    assert (tmp_path / "chosen").exists()
