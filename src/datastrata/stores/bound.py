"""A dedicated-storage tenant's database: the shared home pool, every transaction inside the tenant's namespace."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager

from datastrata.core.tenancy import Namespace, namespace
from datastrata.stores.database import Database, Tx


class BoundDatabase(Database):
    """A :class:`Database` over another one's connections whose every transaction runs in one namespace.

    Each transaction, snapshot and session enters :func:`datastrata.core.tenancy.namespace`, so the store binds
    ``search_path`` and ``ROLE`` for that transaction only (``set_config(…, true)``, never a session ``SET``). A
    store that does not bind ``bound().namespace`` itself (``binds_namespace`` false) gets the same statement here.
    `ensure` is tracked per namespace (this object's own record); closing leaves a shared pool open.
    """

    def __init__(self, inner: Database, ns: Namespace, *, owns: bool = False) -> None:
        super().__init__()
        self.inner = inner
        self.owns = owns
        self.binding = ns
        self.dialect = inner.dialect
        self.url = inner.url

    @property
    def _statement(self) -> tuple[str, tuple[str, ...]] | None:
        if self.dialect != "postgresql" or getattr(self.inner, "binds_namespace", False):
            return None
        parts, params = [], []
        if self.binding.schema is not None:
            parts.append("set_config('search_path', ?, true)")
            params.append(f'"{self.binding.schema}"')
        if self.binding.role is not None:
            parts.append("set_config('role', ?, true)")
            params.append(self.binding.role)
        return ("SELECT " + ", ".join(parts), tuple(params)) if parts else None

    @contextlib.contextmanager
    def _bound(self, opened: AbstractContextManager[Tx]) -> Iterator[Tx]:
        with namespace(self.binding), opened as tx:
            statement = self._statement
            if statement is not None:
                tx.execute(*statement)
            yield tx

    def transaction(self, *, durable: bool = True) -> AbstractContextManager[Tx]:
        """A write transaction of the inner store, bound to this namespace."""
        return self._bound(self.inner.transaction(durable=durable))

    def read(self) -> AbstractContextManager[Tx]:
        """A read snapshot of the inner store, bound to this namespace."""
        return self._bound(self.inner.read())

    def session(self) -> AbstractContextManager[Tx]:
        """A transaction on PostgreSQL (a local setting needs one); SQLite's session as it is."""
        if self.dialect == "postgresql":
            return self._bound(self.inner.transaction())
        return self._bound(self.inner.session())

    def notify_changed(self) -> None:
        """Wake the inner store's waiters (they watch the shared store)."""
        self.inner.notify_changed()

    def wait_for_change(self, seen: int, timeout: float) -> int:
        """Wait on the inner store's change counter."""
        return self.inner.wait_for_change(seen, timeout)

    @property
    def change_count(self) -> int:
        """The inner store's change counter."""
        return self.inner.change_count

    @change_count.setter
    def change_count(self, value: int) -> None:
        """Ignored: the inner store counts changes."""

    def close(self) -> None:
        """Close the inner store if this object opened it; a shared pool stays open (the runtime closes it)."""
        if self.owns:
            self.inner.close()

    def __repr__(self) -> str:
        return f"BoundDatabase({self.inner!r}, {self.binding!r})"
