"""The ocean between the regions: a transport with a one-way latency that can be cut and restored.

A Singapore command to New York is one round trip through :meth:`Link.round_trip`: the request travels one way
(the latency), the far side acts, the answer travels back. Pages of business events travel through a :class:`Pipe`:
several on the way at once, carried and applied in the order sent, each answer coming back one latency after the
far side acted. A cut link refuses new crossings and loses what is on the way, or the answer of what arrived (the
far side may have acted: callers retry, and both sides are idempotent); a page lost on the way loses the pages
behind it too, so the far side never applies a later page before an earlier one. The state lives in a small JSON
file, so ``datastrata trading link cut`` reaches every process of the system on the host.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from datastrata.core.errors import BackendUnavailable, ValidationError

T = TypeVar("T")
#: The default one-way latency, in milliseconds (Singapore ↔ New York over fibre is about 100).
LATENCY_MS = 100.0
#: The longest one-way latency the link takes, in milliseconds (a request from Singapore pays it twice).
MAX_LATENCY_MS = 500.0


@dataclass(frozen=True, slots=True)
class LinkState:
    """The link as configured: its one-way latency and whether it is cut."""

    latency_ms: float = LATENCY_MS
    cut: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape."""
        return {"latency_ms": self.latency_ms, "cut": self.cut, "state": "cut" if self.cut else "up"}


def check_latency(value: object) -> float:
    """Return `value` as a one-way latency in milliseconds (0 to half a second)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_LATENCY_MS:
        raise ValidationError(
            f"latency_ms must be a number of milliseconds from 0 to {MAX_LATENCY_MS:g}; got {value!r}",
            field="latency_ms",
        )
    return float(value)


class Link:
    """A round-trip transport between New York and Singapore with injected latency and a switch to cut it."""

    def __init__(self, path: Path, *, latency_ms: float | None = None, sleep: Callable[[float], None] = time.sleep):
        self.path = path
        self.sleep = sleep
        self._lock = threading.Lock()
        self._seen: tuple[float, int] | None = None
        self._state = LinkState()
        if latency_ms is not None:
            self.set(latency_ms=latency_ms)
        self.crossings = 0

    def state(self) -> LinkState:
        """The link's state now (re-read when another process changed the file)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return self._state
        mark = (stat.st_mtime, stat.st_size)
        with self._lock:
            if mark != self._seen:
                try:
                    data = json.loads(self.path.read_text())
                    self._state = LinkState(check_latency(data.get("latency_ms", LATENCY_MS)), bool(data.get("cut")))
                except (OSError, ValueError):  # a half-written file: keep the last state, read it next time
                    return self._state
                self._seen = mark
            return self._state

    def set(self, *, latency_ms: float | None = None, cut: bool | None = None) -> LinkState:
        """Change the latency or cut/restore the link (for every process reading the same file)."""
        now = self.state()
        state = LinkState(
            now.latency_ms if latency_ms is None else check_latency(latency_ms), now.cut if cut is None else cut
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps({"latency_ms": state.latency_ms, "cut": state.cut}))
        os.replace(temporary, self.path)
        with self._lock:
            self._state, self._seen = state, None
        return state

    def cut(self) -> LinkState:
        """Cut the link: crossings fail until it is restored."""
        return self.set(cut=True)

    def restore(self) -> LinkState:
        """Restore the link."""
        return self.set(cut=False)

    def round_trip(self, call: Callable[[], T], *, what: str = "request") -> T:
        """Carry `call` to the far side and its answer back, paying the latency each way; fail while cut."""
        state = self.state()
        self.refuse_if_cut(state, what, "was not sent")
        self.sleep(state.latency_ms / 1000)
        self.refuse_if_cut(self.state(), what, "was lost on the way")
        answer = call()
        self.sleep(state.latency_ms / 1000)
        self.refuse_if_cut(self.state(), what, "was carried out, but its answer was lost")
        self.crossings += 1
        return answer

    def refuse_if_cut(self, state: LinkState, what: str, fate: str) -> None:
        """Raise :class:`BackendUnavailable` saying what happened to `what` when `state` is cut."""
        if state.cut:
            raise BackendUnavailable(
                f"the link between New York and Singapore is cut: the {what} {fate}; it is retried once the link "
                "is restored (`datastrata trading link restore`)"
            )


@dataclass(eq=False)
class Crossing:
    """One page on its way through a :class:`Pipe`: when it arrives, when its answer is back, or why it failed."""

    what: str
    call: Callable[[], object]
    due: float
    answer_at: float | None = None
    error: BackendUnavailable | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Pipe:
    """Pages carried one way over `link` in the order sent, several in flight; their answers come back later.

    One carrier thread takes the pages in order: it waits until a page is due (sent + latency), refuses it when
    the link is cut then (lost on the way) and else runs its call on the far side; the answer is back one latency
    later, when :meth:`answered` says so — unless the link is cut by then (the far side acted, the answer is lost).
    Once a page failed, the pages behind it fail unsent until :meth:`drain`, so nothing arrives out of order.
    """

    def __init__(self, link: Link, name: str) -> None:
        self.link = link
        self.name = name
        self._queue: queue.SimpleQueue[Crossing | None] = queue.SimpleQueue()
        self._broken = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._flying: list[Crossing] = []

    def send(self, call: Callable[[], object], *, what: str) -> Crossing:
        """Put a page on its way (refused at once while the link is cut)."""
        state = self.link.state()
        self.link.refuse_if_cut(state, what, "was not sent")
        crossing = Crossing(what, call, time.monotonic() + state.latency_ms / 1000)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._carry, name=f"pipe@{self.name}", daemon=True)
                self._thread.start()
            self._flying.append(crossing)
        self._queue.put(crossing)
        return crossing

    def _carry(self) -> None:
        while (crossing := self._queue.get()) is not None:
            wait = crossing.due - time.monotonic()
            if wait > 0:
                self.link.sleep(wait)
            try:
                if self._broken:
                    raise BackendUnavailable(
                        f"the {crossing.what} was not carried: an earlier page failed on the way; both go again"
                    )
                state = self.link.state()
                self.link.refuse_if_cut(state, crossing.what, "was lost on the way")
                crossing.call()
                crossing.answer_at = time.monotonic() + self.link.state().latency_ms / 1000
            except BackendUnavailable as exc:
                self._broken, crossing.error = True, exc
            except Exception as exc:  # the far side failed: the page did not get through
                self._broken = True
                crossing.error = BackendUnavailable(f"the {crossing.what} failed on the far side: {exc}")
            finally:
                crossing.done.set()

    def answered(self, crossing: Crossing, *, timeout: float = 0.0) -> bool:
        """True once `crossing`'s answer is back (waiting up to `timeout`); raise how it failed."""
        if not crossing.done.wait(timeout):
            return False
        if crossing.error is not None:
            raise crossing.error
        wait = (crossing.answer_at or 0.0) - time.monotonic()
        if wait > 0:
            if wait > timeout:
                return False
            self.link.sleep(wait)
        self.link.refuse_if_cut(self.link.state(), crossing.what, "was carried out, but its answer was lost")
        with self._lock:
            self._flying.remove(crossing)
        self.link.crossings += 1
        return True

    def drain(self, *, timeout: float = 30.0) -> None:
        """After a failure: wait until every page sent has arrived or failed, then carry again."""
        with self._lock:
            flying, self._flying = self._flying, []
        deadline = time.monotonic() + timeout
        for crossing in flying:
            crossing.done.wait(max(0.0, deadline - time.monotonic()))
        self._broken = False

    def close(self) -> None:
        """Stop the carrier thread (after the pages on their way)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(10)
