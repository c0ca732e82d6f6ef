"""Health and readiness: each follower's position, lag, state and last error, and one overall status.

The overall status is ``ok`` (every follower running), ``degraded`` (one is backing off or halted, or a job says
part of its work waits on a fix: the rest go on)
or ``down`` (a store does not answer, a readiness check fails, or the worker died); HTTP 200, 200 and 503.
Lags come from the supervisor's last measurement (reused for a few seconds), so a probe does not count rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datastrata.core.redact import describe_error
from datastrata.eventlog import archive
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.supervisor import RUNNING

OK, DEGRADED, DOWN = "ok", "degraded", "down"
HTTP_STATUS = {OK: 200, DEGRADED: 200, DOWN: 503}


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The answer of ``/health`` and ``/ready``."""

    status: str
    followers: list[dict[str, Any]]
    checks: dict[str, str] = field(default_factory=dict)
    not_opened: list[str] = field(default_factory=list)

    @property
    def http_status(self) -> int:
        """The HTTP status that goes with the overall status."""
        return HTTP_STATUS[self.status]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape (halted and backing-off followers are also listed by name)."""
        return {
            "status": self.status,
            "checks": self.checks,
            "not_running": [f["name"] for f in self.followers if f["state"] != RUNNING],
            # Followers holding a resource (the graph) that this process does not own: their owner reports them.
            "not_opened": self.not_opened,
            "followers": self.followers,
            # The shape /health had before followers had states (kept for existing probes and scripts).
            "lags": [
                {"name": f["name"], "position": f["position"], "behind": f["lag"]}
                for f in self.followers
                if f["position"] is not None
            ],
        }


def readiness_checks(runtime: Runtime) -> dict[str, Callable[[], object]]:
    """Return what must answer for the runtime to be ready: the home store, then the checks registered on it.

    ``migrations`` (set by the app: :func:`datastrata.runtime.migrations.require_applied`) fails while a migration
    of the release is not applied in a location.
    """
    return {"store": runtime.log.head, **runtime.readiness}


def report(runtime: Runtime, *, ready: bool = False, worker_alive: bool | None = None) -> HealthReport:
    """Build the health report; with `ready`, also run the readiness checks (stores reachable, migrations)."""
    checks: dict[str, str] = {}
    down = False
    if worker_alive is False:
        checks["worker"], down = "the worker thread stopped; restart the process", True
    if ready:
        for name, check in readiness_checks(runtime).items():
            try:
                check()
                checks[name] = OK
            except Exception as exc:  # a probe reports, it never raises
                checks[name], down = describe_error(exc), True
    try:
        followers = [s.to_dict() for s in runtime.statuses()]
    except Exception as exc:  # the store holding checkpoints and dead letters does not answer
        checks["followers"], down, followers = describe_error(exc), True, []
    archived = _archived(runtime)
    if archived:
        checks["archived_streams"] = archived
    degraded = False
    for name, reason in list(runtime.degraded_by.items()):
        if said := reason():
            checks[name], degraded = said, True
    if down:
        status = DOWN
    elif degraded or any(f["state"] != RUNNING for f in followers):
        status = DEGRADED
    else:
        status = OK
    return HealthReport(status, followers, checks, sorted(runtime.deferred))


def _archived(runtime: Runtime) -> str:
    """Say how much of the log is archived (read from object storage, skipped by rebuilds); "" when none."""
    try:
        with runtime.log.db.read() as tx:
            streams, events, last = archive.summary_in(tx)
    except Exception:  # the followers' check reports a store that does not answer
        return ""
    if not streams:
        return ""
    return (
        f"{streams} closed stream(s) of {events} events (positions up to {last}) are archived by tiering: reads "
        "take them from object storage, rebuilds read the online log only and skip them"
    )
