"""The four match read models a rebuild makes are the ones the code before the rebuild's speed-up made.

``read_models_golden.json`` holds, per simulated seed, each read-model table's row count and a SHA-256 of its rows
(positions replaced by their rank in the log, so SQLite and PostgreSQL compare alike). It was written by this module
(``python tests/systems/match/test_read_models_unchanged.py``) on the code before the change; the tests rebuild the
same random matches on both stores, by the live follower in small pages, by one pass for all four and by one rebuild
each, and compare.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import ValidationError
from datastrata.projections.partner import rebuild_with_partner
from datastrata.projections.slots import Tables, state_in
from datastrata.runtime import Runtime
from datastrata.systems.match import domain, simulate
from datastrata.systems.match.service import MatchService

GOLDEN = Path(__file__).with_name("read_models_golden.json")
SEEDS = (3, 17, 29)
MATCHES = 8
TABLES = {
    "match.tv": ("match_tv_events",),
    "match.news": ("match_news_alerts",),
    "match.social": ("match_social_posts",),
    "match.analytics": ("match_analytics_players", "match_analytics_teams"),
}
#: Tables whose second column is a log position.
POSITIONED = {"match_tv_events", "match_news_alerts", "match_social_posts"}


def digest(runtime: Runtime) -> dict[str, list[Any]]:
    """Return each live table's row count and the SHA-256 of its rows, positions as ranks in the log."""
    out: dict[str, list[Any]] = {}
    with runtime.db.read() as tx:
        rank = {int(p): i for i, (p,) in enumerate(tx.query("SELECT position FROM eventlog_events ORDER BY 1"), 1)}
        for name, tables in TABLES.items():
            slot = Tables(state_in(tx, name).active)
            for table in tables:
                rows = [list(r) for r in tx.query(f"SELECT * FROM {slot[table]} ORDER BY 1, 2, 3")]
                if table in POSITIONED:
                    rows = sorted([[r[0], rank[int(r[1])], *r[2:]] for r in rows], key=lambda r: (r[0], r[1]))
                text = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
                out[table] = [len(rows), hashlib.sha256(text.encode()).hexdigest()]
    return out


def played(runtime: Runtime, seed: int) -> MatchService:
    """Play the seed's random matches, then catch the live followers up in pages of 7 events (pages cut matches)."""
    svc = MatchService(runtime)
    simulate.play(svc, matches=MATCHES, seed=seed)
    for runner in svc.runners.values():
        runner.catch_up(batch_size=7)
    return svc


@pytest.mark.parametrize("seed", SEEDS)
def test_live_follower_one_pass_and_single_rebuilds_give_the_recorded_read_models(store_url: str, seed: int) -> None:
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))[str(seed)]
    with Runtime.open(Settings(store=store_url)) as runtime:
        svc = played(runtime, seed)
        assert digest(runtime) == expected  # the live follower, small pages
        svc.rebuild("all")
        assert digest(runtime) == expected  # one pass for all four, one page
        for name in ("tv", "news", "social", "analytics"):
            svc.rebuild(name)  # type: ignore[arg-type]
        assert digest(runtime) == expected


def test_a_rebuild_shared_with_a_partner_process_gives_the_recorded_read_models(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    seed = SEEDS[0]
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))[str(seed)]
    with Runtime.open(Settings(store=store_url)) as runtime:
        svc = played(runtime, seed)
        events = sum(1 for e in runtime.log.read_all(limit=100_000) if e.type in domain.MATCH_EVENTS)
        timings: dict[str, float] = {}
        with caplog.at_level(logging.WARNING, logger="datastrata.projections.partner"):
            assert svc.rebuild("all", processes=2, timings=timings)["all"] == 4 * events  # once per read model
        assert not caplog.records  # the partner replayed its share and reported it
        assert set(timings) == set(TABLES)
        assert digest(runtime) == expected
        with runtime.db.read() as tx:
            assert {state_in(tx, name).building for name in TABLES} == {None}  # all four switched


def test_a_partner_that_cannot_start_costs_time_not_results(store_url: str, caplog: pytest.LogCaptureFixture) -> None:
    seed = SEEDS[1]
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))[str(seed)]
    with Runtime.open(Settings(store=store_url)) as runtime:
        svc = played(runtime, seed)
        runners = list(svc.runners.values())
        events = sum(1 for e in runtime.log.read_all(limit=100_000) if e.type in domain.MATCH_EVENTS)
        with caplog.at_level(logging.WARNING, logger="datastrata.projections.partner"):
            applied = rebuild_with_partner(
                runners, partner=["match.tv", "match.news"], settings=runtime.settings, opener="datastrata.nowhere:open"
            )
        assert "partner process stopped" in caplog.text and "datastrata.nowhere" in caplog.text
        assert applied == 4 * events  # this process folded the partner's share in its final pass
        assert digest(runtime) == expected


def test_processes_other_than_one_or_two_are_refused(sqlite_url: str) -> None:
    with Runtime.open(Settings(store=sqlite_url)) as runtime:
        with pytest.raises(ValidationError, match="processes must be 1 or 2; got 3") as refused:
            MatchService(runtime).rebuild("all", processes=3)
        assert refused.value.field == "processes"


def write_golden() -> None:
    """Write the golden digests from the code as it is now (run before changing a read model's fold)."""
    out = {}
    for seed in SEEDS:
        with tempfile.TemporaryDirectory() as work, Runtime.open(Settings(store=f"sqlite:///{work}/s.db")) as runtime:
            played(runtime, seed)
            out[str(seed)] = digest(runtime)
    GOLDEN.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write_golden()
    sys.exit(0)
