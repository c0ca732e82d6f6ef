"""Every command-line option an error message suggests exists on the command line."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from typer.main import get_command

from datastrata.cli import app

SRC = Path(__file__).resolve().parents[1] / "src" / "datastrata"
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9]")


def _cli_options(command: Any) -> set[str]:
    found = {name for param in getattr(command, "params", []) for name in getattr(param, "opts", [])}
    found |= {name for param in getattr(command, "params", []) for name in getattr(param, "secondary_opts", [])}
    for sub in getattr(command, "commands", {}).values():
        found |= _cli_options(sub)
    return found


def _raised_texts(tree: ast.AST) -> list[tuple[int, str]]:
    texts = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
            message = node.exc.args[0]  # the message, not keywords such as field=
            parts = [c.value for c in ast.walk(message) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
            texts.append((node.lineno, "".join(parts)))
    return texts


def test_options_named_in_errors_exist() -> None:
    known = _cli_options(get_command(app)) | {"--help"}
    unknown = []
    for path in sorted(SRC.rglob("*.py")):
        for line, text in _raised_texts(ast.parse(path.read_text(encoding="utf-8"))):
            unknown += [f"{path.relative_to(SRC)}:{line}: {o}" for o in OPTION.findall(text) if o not in known]
    assert not unknown, "errors suggest options no command has:\n" + "\n".join(unknown)


def test_no_error_tells_the_cli_user_to_raise_a_timeout_it_cannot_set() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        for line, text in _raised_texts(ast.parse(path.read_text(encoding="utf-8"))):
            if "raise the timeout" in text:
                offenders.append(f"{path.relative_to(SRC)}:{line}")
    assert not offenders, offenders
