"""Portfolio commands and queries: load by replay (with snapshots), decide, append with optimistic concurrency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import msgspec

from datastrata.core.errors import NotFound, ValidationError
from datastrata.core.events import Event, NewEvent
from datastrata.core.validation import bounded_int
from datastrata.projections import ProjectionRunner
from datastrata.projections.consistency import Freshness, ensure_fresh
from datastrata.runtime import Runtime, Scope, Work
from datastrata.systems.portfolio import domain
from datastrata.systems.portfolio.domain import PortfolioState
from datastrata.systems.portfolio.holders import HoldersProjection
from datastrata.writes.commands import CommandHandler
from datastrata.writes.idempotency import event_id_for

SNAPSHOT_EVERY = 100
#: The bounded context of the portfolio system: its streams are ``portfolio-<portfolio id>``.
CONTEXT = "portfolio"


@dataclass(frozen=True, slots=True)
class Recorded:
    """The outcome of a command: the event it stored (or found stored before) and the consistency token."""

    portfolio_id: str
    event: Event
    duplicate: bool
    log: str | None = None

    @property
    def token(self) -> int:
        """The consistency token: the log position of the event; pass it to a query as ``after``."""
        return self.event.position

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape of the outcome (``token`` and ``log`` name the position and its log)."""
        return {
            "portfolio_id": self.portfolio_id,
            "event_id": self.event.event_id,
            "type": self.event.type,
            "version": self.event.version,
            "position": self.event.position,
            "token": self.token,
            "log": self.log,
            "duplicate": self.duplicate,
        }

    def to_stored(self) -> dict[str, Any]:
        """Return the outcome as kept with its idempotency key (the event whole)."""
        return {"portfolio_id": self.portfolio_id, "event": msgspec.to_builtins(self.event), "log": self.log}

    @classmethod
    def replayed(cls, stored: dict[str, Any]) -> Recorded:
        """Return a stored outcome, marked as a replay (``duplicate``)."""
        return cls(str(stored["portfolio_id"]), msgspec.convert(stored["event"], Event), True, stored["log"])


class PortfolioService:
    """Deposits, withdrawals and trades on event-sourced portfolios."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.clock = runtime.clock
        self.holders_runner = runtime.register(HoldersProjection())
        self.commands = CommandHandler(runtime)

    @staticmethod
    def scope(portfolio_id: str) -> Scope:
        """Return the scope of one portfolio (checked), for the current tenant."""
        return Scope.of(CONTEXT, domain.check_portfolio_id(portfolio_id))

    # ---- commands ------------------------------------------------------------------------------------------

    def deposit(
        self, portfolio_id: str, amount: Decimal | str, *, at: datetime | None = None, event_id: str | None = None
    ) -> Recorded:
        """Deposit cash."""
        content = {"amount": str(amount), "at": at}
        return self._handle(
            "deposit", portfolio_id, event_id, content, lambda s, e: domain.deposit(amount, at=at, event_id=e)
        )

    def withdraw(
        self, portfolio_id: str, amount: Decimal | str, *, at: datetime | None = None, event_id: str | None = None
    ) -> Recorded:
        """Withdraw cash the portfolio holds."""
        content = {"amount": str(amount), "at": at}
        return self._handle(
            "withdraw", portfolio_id, event_id, content, lambda s, e: domain.withdraw(s, amount, at=at, event_id=e)
        )

    def buy(
        self,
        portfolio_id: str,
        symbol: str,
        quantity: Decimal | str,
        price: Decimal | str,
        *,
        at: datetime | None = None,
        event_id: str | None = None,
    ) -> Recorded:
        """Buy shares with the portfolio's cash."""
        content = {"symbol": symbol, "quantity": str(quantity), "price": str(price), "at": at}
        return self._handle(
            "buy",
            portfolio_id,
            event_id,
            content,
            lambda s, e: domain.buy(s, symbol, quantity, price, at=at, event_id=e),
        )

    def sell(
        self,
        portfolio_id: str,
        symbol: str,
        quantity: Decimal | str,
        price: Decimal | str,
        *,
        at: datetime | None = None,
        event_id: str | None = None,
    ) -> Recorded:
        """Sell shares the portfolio holds."""
        content = {"symbol": symbol, "quantity": str(quantity), "price": str(price), "at": at}
        return self._handle(
            "sell",
            portfolio_id,
            event_id,
            content,
            lambda s, e: domain.sell(s, symbol, quantity, price, at=at, event_id=e),
        )

    def trade(
        self,
        portfolio_id: str,
        side: str,
        symbol: str,
        quantity: Decimal | str,
        price: Decimal | str,
        *,
        at: datetime | None = None,
        event_id: str | None = None,
    ) -> Recorded:
        """Buy or sell, by `side`."""
        if side not in ("buy", "sell"):
            raise ValidationError(f"side must be 'buy' or 'sell'; got {side!r}", field="side")
        command = self.buy if side == "buy" else self.sell
        return command(portfolio_id, symbol, quantity, price, at=at, event_id=event_id)

    def _handle(
        self,
        command: str,
        portfolio_id: str,
        event_id: str | None,
        content: dict[str, Any],
        decide: Callable[[PortfolioState, str | None], NewEvent],
    ) -> Recorded:
        """Load (from the latest snapshot), decide and append in one transaction, under the idempotency rule."""
        scope = self.scope(portfolio_id)
        content = {"portfolio_id": portfolio_id, **content}
        own_id = None if event_id is None else event_id_for(scope.tenant, f"{CONTEXT}.{command}", event_id)

        def body(work: Work) -> Recorded:
            state = self._load_in(work)
            event = decide(state, own_id)
            domain.check_business_time(state, event.occurred_at or self.clock())
            result = work.append([event], expected_version=state.version)
            if result.version // SNAPSHOT_EVERY > state.version // SNAPSHOT_EVERY:
                state = domain.replay(portfolio_id, result.events, state)
                work.location.snapshots.save_in(work, scope.stream_id, state.version, state.snapshot())
            return Recorded(portfolio_id, result.events[-1], duplicate=result.duplicate, log=work.log.identity)

        return self.commands.run(
            command, scope, body, encode=Recorded.to_stored, decode=Recorded.replayed, key=event_id, content=content
        )

    def _load_in(self, work: Work) -> PortfolioState:
        """Return the current state: the latest snapshot and the events after it."""
        portfolio_id = str(work.scope.key)
        snapshot = work.location.snapshots.load_in(work, work.scope.stream_id)
        start = PortfolioState.from_snapshot(portfolio_id, snapshot.version, snapshot.state) if snapshot else None
        return domain.replay(portfolio_id, work.stream(from_version=(start.version + 1) if start else 1), start)

    # ---- queries -------------------------------------------------------------------------------------------

    def state(
        self, portfolio_id: str, *, as_of: datetime | None = None, at_version: int | None = None
    ) -> PortfolioState:
        """Rebuild the state by replay: now, as of a business time, or at a version."""
        scope = self.scope(portfolio_id)
        if as_of is not None and at_version is not None:
            raise ValidationError("give either as_of or at_version, not both", field="as_of")
        if at_version is not None:
            bounded_int(at_version, field="at_version", minimum=0)
        if as_of is not None:
            events = self.runtime.stream(scope, until=as_of)
            if not events and self.runtime.version(scope) == 0:
                raise NotFound(f"portfolio {portfolio_id!r} has no events; deposit cash to open it")
            return domain.replay(portfolio_id, events)
        with self.runtime.read(scope) as work:
            snapshot = work.location.snapshots.load_in(work, scope.stream_id, max_version=at_version)
            start = PortfolioState.from_snapshot(portfolio_id, snapshot.version, snapshot.state) if snapshot else None
            events = work.stream(from_version=(start.version + 1) if start else 1, to_version=at_version)
            current = work.log.version_in(work, scope.stream_id) if not events and start is None else None
        state = domain.replay(portfolio_id, events, start)
        if state.version == 0 and current == 0:
            raise NotFound(f"portfolio {portfolio_id!r} has no events; deposit cash to open it")
        if at_version is not None and state.version < at_version:
            raise ValidationError(
                f"portfolio {portfolio_id!r} is at version {state.version}; at_version {at_version} does not exist",
                field="at_version",
            )
        return state

    def events(self, portfolio_id: str, *, after_version: int = 0, limit: int | None = None) -> list[Event]:
        """Return the portfolio's events in version order: all, or up to `limit` after version `after_version`."""
        scope = self.scope(portfolio_id)
        events = self.runtime.stream(scope, from_version=after_version + 1, limit=limit)
        if not events and (after_version == 0 or self.runtime.version(scope) == 0):
            raise NotFound(f"portfolio {portfolio_id!r} has no events; deposit cash to open it")
        return events

    def holders_for(self) -> ProjectionRunner:
        """The holders projection's follower of the log the current tenant's portfolios live in."""
        return cast(ProjectionRunner, self.runtime.runner_for(self.holders_runner.name, Scope.of(CONTEXT)))

    def holders(self, symbol: str, *, after: int | None = None, log: str | None = None) -> list[dict[str, str]]:
        """Return who holds `symbol`, from the holders projection (caught up to `after` of `log`, or to the head)."""
        return self.holders_with_freshness(symbol, after=after, log=log)[0]

    def holders_with_freshness(
        self, symbol: str, *, after: int | None = None, catch_up: bool | None = None, log: str | None = None
    ) -> tuple[list[dict[str, str]], Freshness]:
        """Return who holds `symbol` and how fresh the answer is (a halted projection answers what it has).

        Without `after` the projection catches up first unless `catch_up` is False (HTTP reads never write).
        """
        domain.check_symbol(symbol)
        catch_up = after is None if catch_up is None else catch_up
        runner = self.holders_for()
        fresh = ensure_fresh(runner, after=after, catch_up=catch_up, log=log)
        with self.runtime.read(Scope.of(CONTEXT)) as work:
            rows = cast(HoldersProjection, runner.projection).holders(work, symbol, work.scope.tenant)
        return [{"portfolio_id": p, "quantity": domain.quantity_text(q)} for p, q in rows], fresh
