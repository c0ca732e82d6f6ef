"""Every datastrata module a report names exists, or is named as planned; design modules keep one job each."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

from datastrata.design import modules
from datastrata.design.report import DesignReport

DESIGN_SRC = Path(modules.__file__).parent
EXAMPLES = [
    "netflix",
    "uber_eats",
    "tsmc_fab",
    "ten_contexts",
    "scooter_sharing",
    "smart_grid",
    "vessel_tracking",
    "pro_network",
    "clinic_saas",
    "fintech",
    "iot",
]


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_named_module_imports_or_is_planned(example: str, request: pytest.FixtureRequest) -> None:
    report: DesignReport = request.getfixturevalue(example)
    named = {t.choice.datastrata for ctx in report.contexts for t in ctx.technologies} - {None}
    assert named
    for name in sorted(n for n in named if n is not None):
        if name.endswith(modules.PLANNED_SUFFIX):
            module = name.removesuffix(modules.PLANNED_SUFFIX)
            assert module in modules.ALL_MODULES, name
            assert importlib.util.find_spec(module) is None, f"{module} exists now; the report must not say planned"
        else:
            importlib.import_module(name)


def test_known_modules_are_named_by_existence() -> None:
    for module in modules.ALL_MODULES:
        ref = modules.module_ref(module)
        assert ref == (module if importlib.util.find_spec(module) is not None else module + " (planned)")
    assert modules.module_ref("datastrata.eventlog") == "datastrata.eventlog"
    assert modules.module_ref(None) is None


@pytest.mark.parametrize("path", sorted(DESIGN_SRC.glob("*.py")), ids=lambda p: p.name)
def test_design_modules_are_small_with_a_one_line_docstring(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 400, f"{path.name} holds more than one job"
    docstring = ast.get_docstring(ast.parse(text))
    assert docstring is not None and "\n" not in docstring.strip(), path.name


def test_docs_pages_a_report_names_exist() -> None:
    root = DESIGN_SRC.parents[2]
    for module, pages in modules.DOCS.items():
        assert module in modules.ALL_MODULES
        assert modules.docs_for(module) == (pages if importlib.util.find_spec(module) else ())
        for page in pages:
            assert (root / page).is_file(), page
    assert modules.docs_for("datastrata.services.sagas") == ("docs/sagas.md", "docs/commerce.md")
    assert modules.docs_for("datastrata.services (planned)") == ()
    assert modules.docs_for(None) == ()
