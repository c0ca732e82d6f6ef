"""The docs cite the source article by its title, mark unbuilt strategies as planned, and name modules that exist."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TITLE = "Day 11 | データベース設計哲学:要件分析、技術選定、スキーマ設計戦略"


def test_no_doc_calls_the_article_the_seed() -> None:
    found = [
        f"{doc.name}:{n}"
        for doc in DOCS
        for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\b[Tt]he seed\b(?! data)", line)
    ]
    assert not found, found


def test_docs_citing_the_source_article_give_its_title() -> None:
    citing = [doc for doc in DOCS if "source article" in doc.read_text(encoding="utf-8")]
    assert citing
    untitled = [doc.name for doc in citing if TITLE not in doc.read_text(encoding="utf-8")]
    assert not untitled, untitled


def test_planned_strategies_are_marked_planned_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    planned = readme[readme.index("**Planned, not built yet:**") :].split("\n\n", 1)[0]
    for strategy in ("sagas", "console"):
        assert strategy in planned
    built = readme[readme.index("Built today:") :].split("\n\n", 1)[0]
    for strategy in ("tiering", "multi-tenancy", "sharding"):
        assert strategy in built and strategy not in planned


def test_every_datastrata_module_the_docs_name_exists_or_is_marked_planned() -> None:
    missing = []
    for doc in DOCS:
        for line in doc.read_text(encoding="utf-8").splitlines():
            for name in re.findall(r"`(datastrata(?:\.[a-z_]+)+)`", line):
                if name.endswith((".toml", ".db")) or "planned" in line or "not exist yet" in line:
                    continue  # file names, and modules said not to exist
                try:
                    importlib.import_module(name)
                except ImportError:
                    module, _, attribute = name.rpartition(".")
                    try:
                        if not hasattr(importlib.import_module(module), attribute):
                            missing.append(f"{doc.name}: {name}")
                    except ImportError:
                        missing.append(f"{doc.name}: {name}")
    assert not missing, missing
