"""The README's "Use it" shell block runs top to bottom in an empty directory with the installed `datastrata`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def use_it_block() -> str:
    """The first ```sh block after the README's "## Use it" heading."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Use it") :]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found, "README has no sh block under '## Use it'"
    return found.group(1)


def test_the_readme_block_runs_in_an_empty_directory(tmp_path: Path) -> None:
    block = use_it_block()
    script = tmp_path / "use-it.sh"
    script.write_text("set -euo pipefail\n" + block, encoding="utf-8")
    work = tmp_path / "empty"
    work.mkdir()
    bin_dir = str(Path(sys.executable).parent)  # where the installed console script lives (the venv's bin)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASTRATA_")}
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    done = subprocess.run(
        ["bash", str(script)], cwd=work, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"README block failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "error" not in done.stderr, done.stderr

    def ask(*args: str) -> object:
        answer = subprocess.run(["datastrata", *args, "--json"], cwd=work, env=env, capture_output=True, text=True)
        assert answer.returncode == 0, answer.stderr
        return json.loads(answer.stdout)

    now = ask("portfolio", "state", "user123-portfolio-A")
    before_buy = ask("portfolio", "state", "user123-portfolio-A", "--as-of", "2025-09-12T09:30:00Z")
    assert isinstance(now, dict) and now["holdings"] and "AAPL" in now["holdings"]
    assert isinstance(before_buy, dict) and before_buy["holdings"] == {} and before_buy["cash"] == "10000.00"
    assert (work / "design.md").read_text(encoding="utf-8").startswith("# Design: Uber Eats")
