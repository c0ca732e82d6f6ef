"""What an operator does with dead letters — list, retry, skip — for followers and bus consumers alike.

The CLI (``datastrata deadletters …``) and the HTTP routes (``/deadletters``) both call these functions.
"""

from __future__ import annotations

from datastrata.core.errors import EventFailed, NotFound, RuleViolation
from datastrata.core.redact import describe_error
from datastrata.messaging.delivery import RESOLVED, RETRY, SKIPPED, DeadLetter
from datastrata.projections.follower import LogFollower
from datastrata.runtime.runtime import Runtime


def retry(runtime: Runtime, letter_id: int) -> DeadLetter:
    """Try the event again now; on success the letter is resolved and a halted follower resumes."""
    letter = runtime.dead_letters.get(letter_id)
    _refuse_closed(letter, "retry")
    follower = runtime.follower(letter.consumer)  # builds a deferred one (the graph) if it must
    if isinstance(follower, LogFollower):
        runtime.dead_letters.set_status(letter.id, RETRY)
        follower.halted = None
        try:
            if follower.position() < letter.position:
                follower.catch_up()  # halted before it: read on from the checkpoint, this event first
            elif follower.rebuilding_before(letter.position):
                follower.rebuild()  # a rebuild's letter: run that rebuild again (it resumes, this event first)
            else:
                follower.apply_one(
                    runtime.log.get(letter.event_id, tenant=letter.tenant_id)
                )  # skipped past it: apply it alone
        except EventFailed as exc:
            runtime.dead_letters.record(letter.consumer, letter_ref(letter), exc.error, 1)
            raise _still_failing(letter, exc.error) from None
        except Exception as exc:
            runtime.dead_letters.record(letter.consumer, letter_ref(letter), describe_error(exc), 1)
            raise _still_failing(letter, describe_error(exc)) from None
        if follower.position() < letter.position:
            raise RuleViolation(
                f"dead letter {letter.id}: follower {letter.consumer!r} stopped before position {letter.position} "
                "without failing (nothing readable yet); the worker goes on from there"
            )
    else:
        delivery = runtime.bus.delivery(letter.consumer)
        if delivery is None:
            raise NotFound(_unknown(runtime, letter), field="id")
        try:
            delivery.handler(runtime.log.get(letter.event_id, tenant=letter.tenant_id))
        except Exception as exc:
            runtime.dead_letters.record(letter.consumer, letter_ref(letter), describe_error(exc), 1)
            raise _still_failing(letter, describe_error(exc)) from None
    runtime.dead_letters.set_status(letter.id, RESOLVED)
    return runtime.dead_letters.get(letter.id)


def skip(runtime: Runtime, letter_id: int) -> DeadLetter:
    """Move past the event for good: a halted follower's checkpoint steps over it and the follower goes on."""
    letter = runtime.dead_letters.get(letter_id)
    _refuse_closed(letter, "skip")
    follower = runtime.follower(letter.consumer)  # builds a deferred one (the graph) if it must
    if isinstance(follower, LogFollower):
        follower.skip_past(letter.position)
    elif runtime.bus.delivery(letter.consumer) is None:
        raise NotFound(_unknown(runtime, letter), field="id")
    runtime.dead_letters.set_status(letter.id, SKIPPED)
    return runtime.dead_letters.get(letter.id)


def letter_ref(letter: DeadLetter) -> EventFailed:
    """The failed event a dead letter names, in the shape `DeadLetters.record` takes."""
    return EventFailed(
        letter.consumer,
        letter.event_id,
        letter.position,
        letter.error,
        event_type=letter.event_type,
        stream_id=letter.stream_id,
        tenant_id=letter.tenant_id,
    )


def _refuse_closed(letter: DeadLetter, action: str) -> None:
    if letter.status in (RESOLVED, SKIPPED):
        raise RuleViolation(f"dead letter {letter.id} is {letter.status} already; there is nothing to {action}")


def _still_failing(letter: DeadLetter, error: str) -> RuleViolation:
    return RuleViolation(
        f"dead letter {letter.id}: {letter.consumer!r} failed on event {letter.event_id} again: {error}; fix the "
        f"cause and retry, or skip it (`datastrata deadletters skip {letter.id}`)"
    )


def _unknown(runtime: Runtime, letter: DeadLetter) -> str:
    known = sorted(set(runtime.runners) | set(runtime.deferred))
    return (
        f"dead letter {letter.id} belongs to {letter.consumer!r}, which is not a follower or bus consumer of this "
        f"process; known: {known}"
    )
