"""Online resharding: a plan's range moves run through the runtime's one move workflow, then the map switches epoch.

Each planned move is a journalled move of kind ``shard`` (subject ``<map>:<plan>:<index>``): copy in short batches
while writes go on, catch up from the source shard's log, fence only the moving range, copy the last delta, verify
counts and checksums, switch (the placer installs the map's next epoch by compare-and-set: the range goes to its
target), and after a grace period delete the source's copy. Moves run one after another; all are switched before
any cleans up, so ``reverse_reshard`` can undo every switch until cleanup. A killed run resumes from the journal:
running :func:`run_reshard` again with the same plan goes on where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from datastrata.core.errors import NotFound, RuleViolation
from datastrata.core.tenancy import platform
from datastrata.runtime.moveevents import ShardEvents
from datastrata.runtime.moves import ACTIVE, COMPLETED, FAILED, REVERSED, Journal, Move, Mover, MoveStopped
from datastrata.runtime.movetables import shard_tables
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.shardfences import MIGRATIONS as RESHARDS
from datastrata.runtime.slotrange import SlotRange
from datastrata.sharding.maps import ShardMaps
from datastrata.sharding.placement import ByShard
from datastrata.sharding.reshardplan import (
    RangeMove,
    ReshardPlan,
    plan_add,
    plan_pin,
    plan_remove,
    plan_split,
    sharded,
)
from datastrata.sharding.router import Router
from datastrata.sharding.slotmaps import assignment, pins, router_of, shard_of
from datastrata.stores.database import Database, time_to_db

__all__ = [
    "GRACE",
    "RangeMove",
    "ReshardPlan",
    "ReshardStatus",
    "plan_add",
    "plan_pin",
    "plan_remove",
    "plan_split",
    "reshard_status",
    "reverse_reshard",
    "run_reshard",
]

#: Seconds between the last switch of a reshard and deleting the sources' copies (``shards reverse`` works till then).
GRACE = 10.0
#: The move kind of a range move in the journal (``runtime_moves.kind``).
KIND = "shard"


@dataclass(frozen=True, slots=True)
class ReshardStatus:
    """Where a map's latest reshard stands: its state, the map's epoch, and each range move's step and progress."""

    map_name: str
    plan_id: str
    action: str
    state: str
    epoch: int
    moves: list[dict[str, Any]] = field(default_factory=list)

    @property
    def copied(self) -> int:
        """Rows copied so far over every move."""
        return sum(int(m["copied"]) for m in self.moves)

    @property
    def rows(self) -> int:
        """Rows the plan counted over every move."""
        return sum(int(m["rows"]) for m in self.moves)

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON (``shards status``, the job's result)."""
        return {
            "map": self.map_name,
            "plan_id": self.plan_id,
            "action": self.action,
            "state": self.state,
            "epoch": self.epoch,
            "copied": self.copied,
            "rows": self.rows,
            "moves": self.moves,
        }


class Plans:
    """The reshard plans of a home store (``sharding_reshards``): recorded when a run starts, read by status."""

    def __init__(self, db: Database) -> None:
        db.ensure(RESHARDS)
        self.db = db

    def record(self, plan: ReshardPlan, at: datetime) -> None:
        """Keep `plan` (once; recording it again is a no-op)."""
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO sharding_reshards (plan_id, map_name, plan, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (plan_id) DO NOTHING",
                (plan.plan_id, plan.map_name, json.dumps(plan.to_dict()), time_to_db(tx.dialect, at)),
            )

    def get(self, plan_id: str) -> ReshardPlan | None:
        """Return the recorded plan `plan_id`, if any."""
        with self.db.read() as tx:
            text = tx.scalar("SELECT plan FROM sharding_reshards WHERE plan_id = ?", (plan_id,))
        return None if text is None else ReshardPlan.from_dict(json.loads(str(text)))

    def latest(self, map_name: str) -> ReshardPlan | None:
        """Return the newest plan recorded for `map_name`, if any."""
        with self.db.read() as tx:
            text = tx.scalar(
                "SELECT plan FROM sharding_reshards WHERE map_name = ? ORDER BY created_at DESC, plan_id LIMIT 1",
                (map_name,),
            )
        return None if text is None else ReshardPlan.from_dict(json.loads(str(text)))


class ShardPlacer:
    """A shard map as a move's placer: the switch gives the move's range to its target in the map's next epoch."""

    #: Writers of a sharded key read its range fence in every transaction, so no cached state needs waiting out.
    ttl = 0.0

    def __init__(self, maps: ShardMaps, plan: ReshardPlan) -> None:
        self.maps = maps
        self.plan = plan
        #: Each known router's slot owners and pins, computed before any fence (a switch holds its range's writes):
        #: the plan's two ends and every map in between as the moves switch one after another.
        self._known = [(r, assignment(r), pins(r)) for r in (plan.router, plan.previous)]
        owners, pinned = list(self._known[1][1]), dict(self._known[1][2])
        for move in plan.moves[:-1]:
            owners, pinned = _moved(owners, pinned, move.range, move.target)
            if not any(_same(owners, pinned, o, p) for _, o, p in self._known):
                self._known.append((router_of(owners, pinned, self._order()), list(owners), dict(pinned)))

    def moving(self, subject: str) -> None:
        """Nothing to mark: the range's writers read its fence already."""

    def switch(self, subject: str, target: dict[str, Any]) -> int:
        """Install the next epoch with the range on `target`'s shard (compare-and-set); the current one if it is."""
        name, shard, slots = self.plan.map_name, str(target["shard"]), self._range(target)
        current = self.maps.current(name)
        owners, pinned = self._routes(current.router)
        if all(owners[s] == shard for f, e in slots.runs for s in range(f, e + 1)) and all(
            shard_of(owners, pinned, k) == shard for k in slots.keys
        ):
            return current.epoch  # switched already (a resumed switch)
        owners, pinned = _moved(owners, pinned, slots, shard)
        router = next((r for r, o, p in self._known if _same(owners, pinned, o, p)), None)
        if router is None:  # a map no run of the plan makes (a reverse): the range router over the slots
            router = router_of(owners, pinned, self._order())
        return self.maps.switch(name, router, expected_epoch=current.epoch).epoch

    def _range(self, end: dict[str, Any]) -> SlotRange:
        """The range a journalled end names: its planned move's (parsed already), else read from the journal."""
        index = end.get("index")
        if end.get("plan") == self.plan.plan_id and isinstance(index, int) and 0 <= index < len(self.plan.moves):
            return self.plan.moves[index].range
        return SlotRange.from_dict(end["range"])

    def _order(self) -> list[str]:
        return list(dict.fromkeys([*self.plan.router.shards, *self.plan.previous.shards]))

    def _routes(self, router: Router) -> tuple[list[str], dict[str, str]]:
        """The slot owners and pins of `router`: a known one's (the stored maps hand back the router installed)."""
        found = next((k for k in self._known if k[0] is router), None) or next(
            (k for k in self._known if k[0] == router), None
        )
        if found is not None:
            return list(found[1]), dict(found[2])
        return assignment(router), pins(router)

    def stay(self, subject: str, source: dict[str, Any]) -> int:
        """The range stays where the map has it: nothing changes."""
        return self.maps.current(self.plan.map_name).epoch


class _Pause(Exception):
    """Stops a move at its grace step: every move switches before any cleans up."""


def run_reshard(
    runtime: Runtime,
    plan: ReshardPlan,
    *,
    on_progress: Callable[[ReshardStatus], None] | None = None,
    grace: float = GRACE,
    on_step: Callable[[int, str], None] | None = None,
) -> ReshardStatus:
    """Run (or resume) `plan`'s moves until every one is completed; return the status.

    `on_progress` is called after every copy batch and step; `on_step` with (move index, step) before each step.
    Refused: a plan of another map's runtime, a plan made at an older epoch than the map's (re-plan), a reversed
    plan, and a plan while another of the same map is unfinished.
    """
    placement, source = sharded(runtime, plan.map_name)
    journal = Journal(runtime.platform.db, clock=runtime.clock)
    recorded = admitted(runtime, plan)
    if recorded is None:
        Plans(runtime.home.db).record(plan, runtime.clock())
        recorded = plan
    placer = ShardPlacer(source.maps, recorded)

    def report() -> None:
        if on_progress is not None:
            on_progress(_status(journal, recorded, source.maps.current(recorded.map_name).epoch))

    with platform():  # a range holds every tenant's rows
        for pause in (True, False):  # first every move to its switch, then every cleanup
            for index in range(len(recorded.moves)):
                move = _next_move(journal, recorded, index, placement)
                if move is None:
                    continue
                mover = _mover(runtime, journal, move, placer, placement, grace, pause, index, on_step, report)
                try:
                    done = mover.run()
                except _Pause:
                    report()
                    continue
                except MoveStopped:
                    raise RuleViolation(f"the reshard of map {recorded.map_name} was reversed meanwhile") from None
                report()
                if done.state == FAILED:
                    raise RuleViolation(f"move {index} of the reshard failed: {done.error}")
    source.invalidate()
    return _status(journal, recorded, source.maps.current(recorded.map_name).epoch)


def admitted(runtime: Runtime, plan: ReshardPlan) -> ReshardPlan | None:
    """Check that `plan` may run (or resume) now; return the recorded plan of its id (None: a new plan).

    Refused (RuleViolation): a new plan while another of the same map is unfinished, a new plan made at an older
    epoch than the map's (re-plan), and a plan that was reversed.
    """
    _, source = sharded(runtime, plan.map_name)
    plans = Plans(runtime.home.db)
    journal = Journal(runtime.platform.db, clock=runtime.clock)
    recorded = plans.get(plan.plan_id)
    if recorded is None:
        latest = plans.latest(plan.map_name)
        if latest is not None and _state(journal, latest) in ("planned", "running", "switched"):
            raise RuleViolation(
                f"map {plan.map_name} has an unfinished reshard ({latest.plan_id}); resume it with its plan file "
                f"or `datastrata shards reverse {plan.map_name}`"
            )
        epoch = source.maps.current(plan.map_name).epoch
        if epoch != plan.base_epoch:
            raise RuleViolation(
                f"the plan was made at epoch {plan.base_epoch} of map {plan.map_name}, which is at epoch {epoch} now; "
                f"plan again (`datastrata shards plan {plan.map_name} …`)"
            )
        return None
    if _state(journal, recorded) == "reversed":
        raise RuleViolation(f"plan {recorded.plan_id} was reversed; plan the reshard again")
    return recorded


def reshard_status(runtime: Runtime, map_name: str) -> ReshardStatus | None:
    """Return where the latest reshard of `map_name` stands (None: it was never resharded)."""
    _, source = sharded(runtime, map_name)
    plan = Plans(runtime.home.db).latest(map_name)
    if plan is None:
        return None
    journal = Journal(runtime.platform.db, clock=runtime.clock)
    return _status(journal, plan, source.maps.current(map_name).epoch)


def reverse_reshard(runtime: Runtime, map_name: str) -> ReshardStatus:
    """Undo the latest reshard of `map_name` until its cleanup: running moves stop, switched ones move back."""
    placement, source = sharded(runtime, map_name)
    plan = Plans(runtime.home.db).latest(map_name)
    if plan is None:
        raise NotFound(f"map {map_name} has no reshard to reverse", field="map")
    journal = Journal(runtime.platform.db, clock=runtime.clock)
    placer = ShardPlacer(source.maps, plan)
    reversed_any = False
    with platform():
        for index in reversed(range(len(plan.moves))):
            current = journal.current(KIND, _subject(plan, index))
            if current is None:
                continue
            mover = _mover(runtime, journal, current, placer, placement, 0.0, False, index, None, lambda: None)
            back = mover.reverse()
            reversed_any = True
            if back.id != current.id:  # switched: the range moves back through the same workflow
                _mover(runtime, journal, back, placer, placement, 0.0, False, index, None, lambda: None).run()
    if not reversed_any:
        raise RuleViolation(
            f"the reshard {plan.plan_id} of map {map_name} has no running or switched move (cleaned up already); "
            "plan the opposite reshard instead"
        )
    source.invalidate()
    return _status(journal, plan, source.maps.current(map_name).epoch)


def _moved(owners: list[str], pinned: dict[str, str], slots: SlotRange, shard: str) -> tuple[list[str], dict[str, str]]:
    """The assignment after `slots` (its runs and pinned keys) went to `shard`."""
    owners, pinned = list(owners), dict(pinned)
    for first, last in slots.runs:
        owners[first : last + 1] = [shard] * (last - first + 1)
    for key in slots.keys:
        pinned[key] = shard
    return owners, pinned


def _same(owners: list[str], pinned: dict[str, str], others: list[str], their_pins: dict[str, str]) -> bool:
    """Whether two assignments put every slot and every pinned key on the same shard."""
    if owners != others:
        return False
    return all(
        shard_of(owners, pinned, k) == shard_of(others, their_pins, k) for k in pinned.keys() | their_pins.keys()
    )


def _subject(plan: ReshardPlan, index: int) -> str:
    return f"{plan.map_name}:{plan.plan_id}:{index}"


def _end(plan: ReshardPlan, index: int, shard: str, placement: ByShard) -> dict[str, Any]:
    """One end of a range move as journalled (both ends carry the map and the range: a move back swaps them)."""
    planned = plan.moves[index]
    return {
        "shard": shard,
        "location": placement.shard(shard).name,
        "map": plan.map_name,
        "plan": plan.plan_id,
        "index": index,
        "range": planned.range.to_dict(),
    }


def _next_move(journal: Journal, plan: ReshardPlan, index: int, placement: ByShard) -> Move | None:
    """The journalled move to run for planned move `index`: the active one, a new one, or None when it is done."""
    subject = _subject(plan, index)
    moves = journal.of(KIND, subject)
    active = next((m for m in moves if m.state in ACTIVE), None)
    if active is not None:
        return active
    if any(m.state == COMPLETED for m in moves):
        return None
    planned = plan.moves[index]
    ends = _end(plan, index, planned.source, placement), _end(plan, index, planned.target, placement)
    return journal.create(KIND, subject, *ends)  # none yet, or the last verify failed: again from the start


def _mover(
    runtime: Runtime,
    journal: Journal,
    move: Move,
    placer: ShardPlacer,
    placement: ByShard,
    grace: float,
    pause: bool,
    index: int,
    on_step: Callable[[int, str], None] | None,
    report: Callable[[], None],
) -> Mover:
    source = runtime.location(placement.shard(str(move.source["shard"])))
    target = runtime.location(placement.shard(str(move.target["shard"])))
    for location in (source, target):
        runtime.pin(location)

    def stepped(step: str) -> None:
        if on_step is not None:
            on_step(index, step)
        if pause and step == "grace":
            raise _Pause(step)
        report()

    tables = shard_tables(source.db)
    missing = sorted({p.table for p in tables} - {p.table for p in shard_tables(target.db)})
    if missing:
        raise RuleViolation(
            f"shard {move.target['shard']} lacks the sharded table(s) {', '.join(missing)} the move carries; migrate "
            "it first (`datastrata migrate`), then run the reshard again"
        )
    return Mover(
        journal,
        move,
        source,
        target,
        tables,
        placer,
        events=ShardEvents(SlotRange.from_dict(move.source["range"])),
        grace=grace,
        clock=runtime.clock,
        on_step=stepped,
        on_batch=lambda done, goal: report(),
    )


def _state(journal: Journal, plan: ReshardPlan) -> str:
    """The state of a plan from its moves: planned, running, switched, completed, reversed or failed."""
    return _summary([journal.of(KIND, _subject(plan, i)) for i in range(len(plan.moves))])


def _summary(histories: Sequence[list[Move]]) -> str:
    if any(m.state == REVERSED for moves in histories for m in moves):
        return "reversed"
    latest = [moves[0].state if moves else "planned" for moves in histories]
    if all(state == COMPLETED for state in latest):
        return "completed"
    if all(state in ("switched", COMPLETED) for state in latest):
        return "switched"
    if any(state == FAILED for state in latest):
        return "failed"
    return "planned" if all(state == "planned" for state in latest) else "running"


def _status(journal: Journal, plan: ReshardPlan, epoch: int) -> ReshardStatus:
    histories = [journal.of(KIND, _subject(plan, i)) for i in range(len(plan.moves))]
    moves = []
    for index, (planned, history) in enumerate(zip(plan.moves, histories, strict=True)):
        latest = history[0] if history else None
        timings = latest.timings if latest else {}
        fenced = None
        if "fenced_at" in timings and "switched_at" in timings:
            fenced = round(
                (
                    datetime.fromisoformat(timings["switched_at"]) - datetime.fromisoformat(timings["fenced_at"])
                ).total_seconds(),
                4,
            )
        moves.append(
            {
                "index": index,
                "source": planned.source,
                "target": planned.target,
                "slots": planned.range.slots,
                "keys": len(planned.range.keys),
                "rows": planned.rows,
                "copied": int(latest.cursors.get("copied", 0)) if latest else 0,
                "move": latest.id if latest else None,
                "state": latest.state if latest else "planned",
                "step": latest.step if latest else "plan",
                "fenced_seconds": fenced,
                "error": latest.error if latest else None,
            }
        )
    return ReshardStatus(plan.map_name, plan.plan_id, plan.action, _summary(histories), epoch, moves)
