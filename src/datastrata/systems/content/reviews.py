"""Tier reviews: a viral item flags its studio for the next isolation model; accepting one moves the studio there.

Accepting is a platform act done for the studio: the tier changes in the tenant catalogue (quota and rate at once)
and the live move to the tier's model starts (:func:`datastrata.tenancy.move.start_move`, a job). The review then
records the move; listing the reviews shows the move's step and state from the move journal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from datastrata.core.errors import NotFound, RuleViolation
from datastrata.core.events import NewEvent
from datastrata.runtime import Work
from datastrata.runtime.jobs import Job, jobs_of
from datastrata.stores.database import time_from_db, time_to_db
from datastrata.systems.content.domain import CONTEXT, RESERVED_ITEM_ID
from datastrata.tenancy.catalogue import LOCAL_ACTOR, catalogue_of
from datastrata.tenancy.move import GRACE, move_status, start_move
from datastrata.tenancy.tiers import TIERS, Tier
from datastrata.writes.commands import CommandResult, Decision

if TYPE_CHECKING:
    from datastrata.systems.content.service import ContentService


@dataclass(frozen=True, slots=True)
class Acceptance:
    """An accepted tier review: the command that recorded it and the job moving the studio to its new model."""

    result: CommandResult
    job: Job | None

    def to_dict(self) -> dict[str, Any]:
        """Return the command's outcome with the move's job (None: a replayed acceptance)."""
        return {**self.result.to_dict(), "job": None if self.job is None else self.job.to_dict()}


def tier_of_model(model: str) -> Tier:
    """Return the tier whose isolation model is `model` (one tier per model)."""
    return next(t for t in TIERS.values() if t.model == model)


class TierReviews:
    """The studio's tier reviews: list them with their moves, accept one (tier change and move) or decline it."""

    def __init__(self, svc: ContentService) -> None:
        self.svc = svc

    def list(self) -> list[dict[str, Any]]:
        """The current studio's tier reviews, newest first, each accepted one with its move's step and state."""
        scope = self.svc.scope(None, caller_region="*")
        with self.svc.in_region(scope), self.svc.runtime.read(scope) as work:
            rows = work.query(
                "SELECT review_id, item_id, state, from_model, to_model, metrics, created_at, move "
                "FROM content_reviews WHERE tenant_id = ? ORDER BY created_at DESC, review_id",
                (work.scope.tenant,),
            )
        stored = [None if r[7] is None else dict(json.loads(r[7])) for r in rows]
        moves = {}
        if any(m and "id" in m for m in stored):
            moves = {m.id: m for m in move_status(self.svc.runtime, scope.tenant)}
        shown = []
        for r, move in zip(rows, stored, strict=True):
            if move is not None and move.get("id") in moves:
                journalled = moves[move["id"]]
                move |= {"step": journalled.step, "state": journalled.state, "error": journalled.error}
            shown.append(
                {
                    "review_id": r[0],
                    "item_id": r[1],
                    "state": r[2],
                    "from": r[3],
                    "to": r[4],
                    "metrics": json.loads(r[5]),
                    "created_at": time_from_db(r[6]).isoformat(),
                    "move": move,
                }
            )
        return shown

    def accept(
        self, review_id: str, *, actor: str = LOCAL_ACTOR, key: str | None = None, grace: float = GRACE
    ) -> Acceptance:
        """Accept an open review: the studio's tier becomes the next one and its move to that model starts (a job).

        Checked first, before anything changes: the review is open, the studio is catalogued, active and still in
        the model the review was flagged in. A move that cannot start puts the tier back and leaves the review open.
        """
        runtime, tenant = self.svc.runtime, self.svc.scope().tenant
        review = self._open(review_id)
        if review is None:  # decided already: the command replays a retried key, or says it is decided
            return Acceptance(self._record(review_id, accept=True, move=None, key=key), None)
        _, from_model, to_model, _ = review
        try:
            placement = runtime.tenants.placement(tenant)
        except NotFound:
            placement = None
        if placement is None or not placement.catalogued:
            raise RuleViolation(
                f"studio {tenant} is not in the tenant catalogue, so its tier cannot change; "
                f"`datastrata tenants add {tenant} --tier indie` first, or decline the review",
                field="review_id",
            )
        if placement.model != from_model:
            raise RuleViolation(
                f"tier review {review_id!r} was flagged in the {from_model} model but studio {tenant} is in "
                f"{placement.model} now; decline it",
                field="review_id",
            )
        if placement.state != "active":
            raise RuleViolation(
                f"studio {tenant} is {placement.state}: a tier review is accepted for an active studio only; "
                f"`datastrata tenants move-status {tenant}`",
                field="review_id",
            )
        target = tier_of_model(to_model)
        catalogue = catalogue_of(runtime)
        catalogue.set_tier(tenant, target.name, actor=actor)
        try:
            job = start_move(runtime, tenant, to_model, grace=grace)
        except BaseException:
            catalogue.set_tier(tenant, placement.tier, actor=actor)  # audited both ways; the review stays open
            raise
        assert isinstance(job, Job)
        move = {"id": job.target, "job": job.id, "to": to_model, "tier": target.name, "from_tier": placement.tier}
        return Acceptance(self._record(review_id, accept=True, move=move, key=key), job)

    def decline(self, review_id: str, *, key: str | None = None) -> CommandResult:
        """Decline an open review of the current studio (its tier and model stay)."""
        return self._record(review_id, accept=False, move=None, key=key)

    def wait(self, job: Job) -> Job:
        """Wait for a move's job started by this process to end; return its final record (the CLI's foreground)."""
        jobs = jobs_of(self.svc.runtime)
        thread = jobs.threads.get(job.id)
        if thread is not None:
            thread.join()
        return jobs.get(job.id)

    def _open(self, review_id: str) -> tuple[str, str, str, str] | None:
        """The open review's (state, from, to, item) ; None when it is decided; NotFound when there is none."""
        scope = self.svc.scope(None, caller_region="*")
        with self.svc.in_region(scope), self.svc.runtime.read(scope) as work:
            row = _review(work, review_id)
        return (str(row[0]), str(row[1]), str(row[2]), str(row[3])) if row[0] == "open" else None

    def _record(self, review_id: str, *, accept: bool, move: dict[str, Any] | None, key: str | None) -> CommandResult:
        scope = self.svc.scope(None, caller_region="*").within(CONTEXT, RESERVED_ITEM_ID)

        def decide(work: Work) -> Decision:
            row = _review(work, review_id)
            if row[0] != "open":
                raise RuleViolation(f"tier review {review_id!r} is already {row[0]}", field="review_id")
            state = "accepted" if accept else "declined"
            work.execute(
                "UPDATE content_reviews SET state = ?, decided_at = ?, move = ? WHERE tenant_id = ? AND review_id = ?",
                (
                    state,
                    time_to_db(work.dialect, self.svc.clock()),
                    None if move is None else json.dumps(move, sort_keys=True),
                    work.scope.tenant,
                    review_id,
                ),
            )
            payload: dict[str, Any] = {"review_id": review_id, "item_id": row[3], "from": row[1], "to": row[2]}
            payload |= {"state": state, **({} if move is None else {"move": move})}
            return Decision(work.scope, [NewEvent("TierReviewDecided", payload)])

        content = {"review": review_id, "accept": accept}
        with self.svc.in_region(scope):
            return self.svc.commands.execute("review", scope, decide, key=key, content=content)


def _review(work: Work, review_id: str) -> Any:
    row = work.one(
        "SELECT state, from_model, to_model, item_id FROM content_reviews WHERE tenant_id = ? AND review_id = ?",
        (work.scope.tenant, review_id),
    )
    if row is None:
        raise NotFound(f"no tier review {review_id!r}", field="review_id")
    return row
