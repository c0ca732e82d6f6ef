"""Where strategy packages open their units of work: the runtime, or one location used on its own."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from datastrata.core.clock import Clock
from datastrata.runtime.location import Work
from datastrata.runtime.scope import Scope
from datastrata.stores.migrations import Component


class Units(Protocol):
    """Hands out scoped transactions: a `Runtime` (placement decides the location) or a single `Location`."""

    @property
    def clock(self) -> Clock:
        """The clock commands stamp their facts with."""

    def transaction(self, scope: Scope) -> AbstractContextManager[Work]:
        """Open a write transaction in the location of `scope`."""

    def read(self, scope: Scope) -> AbstractContextManager[Work]:
        """Open a read snapshot in the location of `scope`."""

    def ensure(self, component: Component, *, context: str | None = None) -> None:
        """Make sure `component`'s migrations are applied wherever this hands out work (of `context` only, if given)."""
