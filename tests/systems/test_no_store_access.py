"""No system opens a store or builds a stream id itself: every unit of work comes from the runtime and a scope."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import datastrata.systems

SYSTEMS = Path(datastrata.systems.__file__).parent
CONTEXTS = r"(?:portfolio|masterdata|match|food)(?:\.[a-z_]+)*"

#: What a system must not write, and why.
FORBIDDEN: dict[str, re.Pattern[str]] = {
    "reaches into a store it was handed (`.db.`)": re.compile(r"\.db\."),
    "uses the runtime's home database": re.compile(r"\bruntime\.db\b"),
    "uses the runtime's home log": re.compile(r"\bruntime\.log\b"),
    # The old `Platform` class and its instance; "platform" is a domain word now (the content platform, the
    # platform role and `core.tenancy.platform()` of jobs that span tenants).
    "uses the old Platform": re.compile(r"\bPlatform\b|\bself\.platform = platform\b"),
    "builds a stream id as an f-string": re.compile(rf"""\bf["']{CONTEXTS}-\{{"""),
    "builds a stream id by concatenation": re.compile(rf"""["']{CONTEXTS}-[^"'{{}}]*["']\s*\+"""),
    "builds a stream id with format()": re.compile(rf"""["']{CONTEXTS}-\{{\}}["']\.format"""),
}


def violations(text: str) -> list[str]:
    """Return `line: why` for every forbidden pattern in `text`."""
    return [
        f"{number}: {why}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), start=1)
        for why, pattern in FORBIDDEN.items()
        if pattern.search(line)
    ]


def test_no_system_opens_a_store_or_builds_a_stream_id() -> None:
    files = sorted(SYSTEMS.rglob("*.py"))
    assert len(files) > 20  # the scan sees every system's modules
    found = {str(p.relative_to(SYSTEMS)): v for p in files if (v := violations(p.read_text()))}
    assert found == {}, "systems must go through runtime.transaction/read(scope) and Scope.stream_id"


@pytest.mark.parametrize(
    "line",
    [
        "with self.runtime.db.read() as tx:",
        "with self.store.db.transaction() as tx:",
        "head = self.runtime.log.head()",
        "self.platform = platform",
        'return f"match-{match_id}"',
        'return Decision(f"match.team-{team.code}", [event])',
        'stream = "food-user-" + user_id',
        'stream = "portfolio-{}".format(pid)',
    ],
)
def test_the_scan_catches_each_pattern(line: str) -> None:
    assert violations(line)


def test_the_scan_lets_scopes_and_keys_through() -> None:
    assert not violations('scope = Scope.of("match.player", domain.player_id(code, number))')
    assert not violations('return f"user-{user_id}"')  # a key inside the food context, not a stream id
    assert not violations("with self.runtime.transaction(scope) as work:")
