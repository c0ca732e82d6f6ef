"""A rebuild shared with a second process: each replays some of the read models; the switch waits for both.

A rebuild of several read models is CPU-bound in one process (decoding pages, building rows). With two cores, a
partner process opens its own connections and replays its share of the read models into their inactive slots,
each with its own rebuild checkpoint, while this process replays the rest; SQLite's WAL lets both read at once
and their page writes take turns. Then this process runs the ordinary rebuild of all of them
(:func:`~datastrata.projections.rebuild.rebuild_beside`): it resumes every build from its checkpoint, folds what
was appended meanwhile, parks a poison event, and switches them in one transaction. Whatever the partner did not
finish (it failed, was killed, or never started) that rebuild folds itself: the partner only saves time.
"""

from __future__ import annotations

import importlib
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict
from typing import Any

from datastrata.core.config import Settings
from datastrata.core.redact import describe_error
from datastrata.projections.batching import BatchRunner
from datastrata.projections.rebuild import rebuild_beside, replay_beside
from datastrata.projections.runner import Progress

_log = logging.getLogger(__name__)
#: How the partner opens the runners of the named read models on a runtime of the same settings:
#: ``"package.module:function"``, the function taking ``(settings, names)`` and returning a context manager.
OpenRunners = Callable[[Settings, Sequence[str]], AbstractContextManager[Sequence[BatchRunner]]]


def partner_share(runners: Sequence[BatchRunner], weights: dict[str, float]) -> list[str]:
    """Return the names of the read models a partner replays: about half the weight (default 1), heaviest stay here."""
    theirs: list[str] = []
    load = [0.0, 0.0]
    for runner in sorted(runners, key=lambda r: -weights.get(r.name, 1.0)):
        side = 0 if load[0] <= load[1] else 1
        if side:
            theirs.append(runner.name)
        load[side] += weights.get(runner.name, 1.0)
    return theirs


def rebuild_with_partner(
    runners: Sequence[BatchRunner],
    *,
    partner: Sequence[str],
    settings: Settings,
    opener: str,
    progress: Progress | None = None,
    batch_size: int = 20000,
    timings: dict[str, float] | None = None,
) -> int:
    """Rebuild `runners` beside their live slots, the read models named in `partner` replayed by a second process.

    The partner is ``python -m datastrata.projections.partner``: it opens the named runners with `opener` (see
    :data:`OpenRunners`) on `settings`. Returns the events folded (by both processes; an event two read models fold
    counts twice) and, with `timings`, adds each read model's seconds in `apply` (the partner's as it reports
    them). Failures are those of :func:`~datastrata.projections.rebuild.rebuild_beside`.
    """
    theirs = [r.name for r in runners if r.name in partner]
    mine = [r for r in runners if r.name not in partner]
    if not theirs or not mine:
        return rebuild_beside(runners, progress=progress, batch_size=batch_size, timings=timings)
    first = runners[0]
    request = {
        "settings": asdict(settings),
        "opener": opener,
        "names": theirs,
        "expected": [getattr(first.db, "url", ""), first.log.identity],
        "batch_size": batch_size,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "datastrata.projections.partner"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(request))
    process.stdin.close()
    applied = 0
    try:
        folding = {r.name: r.fold_seconds for r in mine}
        applied += replay_beside(mine, batch_size=batch_size, progress=progress)
        if timings is not None:
            for runner in mine:
                timings[runner.name] = timings.get(runner.name, 0.0) + runner.fold_seconds - folding[runner.name]
        applied += _result(process, timings)
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
    return applied + rebuild_beside(runners, progress=progress, batch_size=batch_size, timings=timings)


def _result(process: subprocess.Popen[str], timings: dict[str, float] | None) -> int:
    """Wait for the partner's report; return the events it folded (0 when it failed: the final pass folds them)."""
    assert process.stdout is not None
    text = process.stdout.read()
    try:
        report = json.loads(text.strip().splitlines()[-1])
    except (ValueError, IndexError):
        _log.warning("the rebuild partner process ended without a report; this process folds its share")
        return 0
    if report.get("status") != "ok":
        _log.warning("the rebuild partner process stopped (%s); this process folds the rest", report.get("error"))
        return 0
    if timings is not None:
        for name, seconds in report["timings"].items():
            timings[name] = timings.get(name, 0.0) + float(seconds)
    return int(report["applied"])


def serve_partner(request: dict[str, Any]) -> dict[str, Any]:
    """The partner's side: replay the named read models into their inactive slots; return the report."""
    try:
        module, _, function = str(request["opener"]).partition(":")
        opener: OpenRunners = getattr(importlib.import_module(module), function)
        with opener(Settings(**request["settings"]), list(request["names"])) as runners:
            found = [getattr(runners[0].db, "url", ""), runners[0].log.identity] if runners else None
            if found != request["expected"]:
                return {"status": "error", "error": f"opened another store or log ({found})"}
            folding = {r.name: r.fold_seconds for r in runners}
            applied = replay_beside(runners, batch_size=int(request["batch_size"]))
            return {
                "status": "ok",
                "applied": applied,
                "timings": {r.name: r.fold_seconds - folding[r.name] for r in runners},
            }
    except Exception as exc:  # reported, not raised: the parent's final pass folds what is left
        return {"status": "error", "error": describe_error(exc)}


if __name__ == "__main__":
    print(json.dumps(serve_partner(json.loads(sys.stdin.read()))), flush=True)
