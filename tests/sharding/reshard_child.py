"""Child process for the reshard SIGKILL tests: runs (or resumes) a reshard plan, printing its steps and batches."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from datastrata.sharding.reshard import ReshardPlan, ReshardStatus, run_reshard
from tests.sharding.resharding import Shards


def main() -> None:
    """``reshard_child.py HOME SHARDS_JSON PLAN_FILE``: run the plan, one line per step and per copy batch."""
    shards = Shards(sys.argv[1], json.loads(sys.argv[2]))
    plan = ReshardPlan.from_dict(json.loads(Path(sys.argv[3]).read_text()))
    copied = [0]

    def progress(status: ReshardStatus) -> None:
        if status.copied != copied[0]:
            copied[0] = status.copied
            print(f"copied {status.copied}", flush=True)

    with shards.open() as runtime:
        print("ready", flush=True)
        done = run_reshard(
            runtime,
            plan,
            grace=0.0,
            on_progress=progress,
            on_step=lambda index, step: print(f"step {index} {step}", flush=True),
        )
        print(f"done {done.state}", flush=True)


if __name__ == "__main__":
    main()
