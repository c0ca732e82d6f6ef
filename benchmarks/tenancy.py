"""Multi-tenancy side by side in one run: row-level security, tenant keys, quotas, onboarding, moves, erasure.

Each part is its own script (``benchmarks/tenancy_<part>.py``, runnable alone) exposing ``run(quick)``; this one
runs them in turn and prints one JSON document keyed by part:

- ``rls``: commands on PostgreSQL as the application role under row-level security vs a single-tenant store (goal
  ≥ 0.9 of it), and server connections with 1,000 shared tenants under load;
- ``keys``: one tenant's appends and stream reads in a log shared by 50 tenants vs a log it has alone;
- ``quota``: a catalogued tenant's commands (charged to its tier's quota) vs a single-tenant store's;
- ``models``: onboarding time per isolation model (bridge goal ≤ 1 s) and connections with 100 bridge tenants;
- ``moves``: a move's copy rate beside a bare batch copy, and the moving tenant's write pause (goal ≤ 1 s);
- ``erasure``: appends and reads of personal events sealed vs in the clear.

Usage::

    .venv/bin/python benchmarks/tenancy.py                 # every part, full size
    .venv/bin/python benchmarks/tenancy.py --quick         # every part, small samples
    .venv/bin/python benchmarks/tenancy.py --only rls      # one part (repeatable)
"""

from __future__ import annotations

import tenancy_erasure
import tenancy_keys
import tenancy_models
import tenancy_moves
import tenancy_quota
import tenancy_rls
from parts import Part, run_parts

PARTS: dict[str, Part] = {
    "rls": tenancy_rls.run,
    "keys": tenancy_keys.run,
    "quota": tenancy_quota.run,
    "models": tenancy_models.run,
    "moves": tenancy_moves.run,
    "erasure": tenancy_erasure.run,
}


def main() -> None:
    """Run the parts and print one JSON document."""
    run_parts("tenancy", __doc__.splitlines()[0], PARTS)


if __name__ == "__main__":
    main()
