"""Consistency tokens: a read waits until its projection has applied a command's position, or says how stale it is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datastrata.core.errors import EventFailed, RuleViolation, ValidationError
from datastrata.core.tenancy import platform
from datastrata.projections.follower import LogFollower

DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Freshness:
    """Where a read model stood when it was read: its checkpoint, the log's head and the token waited for.

    `state` is ``running`` or ``halted`` (the projection stopped at an event it cannot apply: the answer is what it
    had, `error` says why); `log` is the identity of the log the position belongs to.
    """

    projection: str
    position: int
    head: int
    stale_by: int
    after: int | None = None
    state: str = "running"
    error: str | None = None
    log: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape included in every query answer (`stale_by`: events not yet applied)."""
        return {
            "projection": self.projection,
            "position": self.position,
            "head": self.head,
            "stale_by": self.stale_by,
            "after": self.after,
            "state": self.state,
            "error": self.error,
            "log": self.log,
        }


def check_token(after: int | None) -> None:
    """Refuse a token that cannot be a position (a token beyond the log simply times out: on PostgreSQL a
    just-committed position may lie above the head a follower can read yet)."""
    if after is not None and (isinstance(after, bool) or after < 0):
        raise ValidationError(f"after must be a position >= 0 returned by a command; got {after}", field="after")


def check_log(log: str | None, identity: str, *, lineage: Callable[[], list[dict[str, Any]]] | None = None) -> None:
    """Refuse a token of another log (409): its position means nothing here, so waiting for it would be wrong.

    `lineage` (the log's restores) lets the refusal say when the token's log is the one this log was restored from.
    """
    if log is not None and log != identity:
        restored = [x for x in lineage() if x["restored_from"] == log] if lineage is not None else []
        if restored:
            raise RuleViolation(
                f"the token belongs to log {log}, which this store's log {identity} was restored from at "
                f"{restored[-1]['restored_at']}; its position may name other events now: run the command again for "
                "a new token, or read without `after`",
                field="log",
            )
        raise RuleViolation(
            f"the token belongs to log {log}, but this read model follows log {identity}; pass a token a command "
            "on this store returned, or read from the store whose log issued it",
            field="log",
        )


def ensure_fresh(
    runner: LogFollower[Any],
    *,
    after: int | None = None,
    catch_up: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    log: str | None = None,
) -> Freshness:
    """Prepare a read of `runner`'s read model.

    With a token (`after`) wait until the projection has applied it (ConsistencyTimeout after `timeout` s);
    with `catch_up` apply what is waiting first (a CLI with no worker running); otherwise read as it is. A
    projection halted on an event it cannot apply answers from what it has: the freshness says how stale and why.
    `log` is the identity the token's command returned: a token of another log is refused, never waited for.
    """
    check_token(after)
    check_log(log, runner.log.identity, lineage=runner.log.lineage)
    state, error = "running", None
    with platform():  # the projection follows every tenant's events: a catch-up here is the follower's work
        try:
            if after is not None:
                runner.wait_for(after, timeout=timeout)
            elif catch_up:
                runner.catch_up()
        except EventFailed as exc:
            state, error = "halted", exc.message
        lag = runner.checked_lag()  # a read model built from another log is refused, never read
    return Freshness(runner.name, lag.position, lag.head, lag.behind, after, state, error, runner.log.identity)
