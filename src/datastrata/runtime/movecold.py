"""A move's cold rows: a tenant's rows in the Parquet parts of a rows policy, carried between two locations.

The tenant's share of a location's parts is :mod:`datastrata.tiering.tenantrows` (the one reader and writer of
parts): the copy makes the target's share equal the source's (joining the target's part of each day, or a new part
with its own record, so the target's cold queries find them), the digest counts and checksums the share per
dataset and day (equal however the rows are split in parts), and the delete rewrites each part without the
tenant's rows (the source's shared parts at ``complete``, the target's at a reverse). Every operation may be redone
after a crash. A part that cannot be read (archived, not restored) may hold the tenant's rows: the move's
``restore`` step asks for its restore and waits (:mod:`datastrata.runtime.movearchive`) before the copy reads it.
"""

from __future__ import annotations

from datastrata.core.errors import ValidationError
from datastrata.runtime.location import Location
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.tenantrows import TenantRows

#: What the tenant's share is read for (named in a refusal).
WHAT = "a move"


class TenantColdRows:
    """Carries one tenant's rows in cold Parquet parts between the locations of a move."""

    def copy(self, source: Location, target: Location, subject: str) -> tuple[int, int]:
        """Make `subject`'s share of the target's parts equal its share at the source: (parts written, rows)."""
        here, there = _rows(source), _rows(target)
        if here is None:
            return 0, 0
        if there is None:
            if here.share(subject).parts:
                raise ValidationError(
                    f"to: tenant {subject} has rows in cold parts, but {target.name} has no object store to hold "
                    "them; give the target location objects",
                    field="to",
                )
            return 0, 0
        return there.copy_from(here, subject, WHAT)

    def digest(self, location: Location, subject: str) -> tuple[int, str]:
        """Return how many cold rows `subject` has in `location` and a SHA-256 over them per dataset and day."""
        rows = _rows(location)
        if rows is None:
            return 0, ""
        found, sha = rows.digest(subject, WHAT)
        return found, sha if found else ""

    def size(self, location: Location, subject: str) -> dict[str, int]:
        """How many readable parts of `location` hold `subject`'s rows, and those rows (a move's plan)."""
        rows = _rows(location)
        share = rows.share(subject) if rows is not None else None
        return {"parts": len(share.parts), "rows": share.rows} if share is not None else {"parts": 0, "rows": 0}

    def marks(self, location: Location) -> str:
        """A fingerprint of `location`'s part records (no part read): unchanged while no part was written there."""
        rows = _rows(location)
        return "" if rows is None else rows.marks()

    def delete(self, location: Location, subject: str) -> int:
        """Take `subject`'s rows out of every cold part of `location`; return how many rows went."""
        rows = _rows(location)
        return 0 if rows is None else rows.remove(subject, WHAT)[1]


def _rows(location: Location) -> TenantRows | None:
    url = location.spec.objects
    return None if not url else TenantRows(location.db, ObjectStore(url, clock=location.clock))
