"""The ocean between the regions: a transport with a one-way latency that can be cut and restored.

Every crossing — a Singapore command to New York, a page of business events to Singapore — is one round trip
through :meth:`Link.round_trip`: the request travels one way (the latency), the far side acts, the answer travels
back. A cut link refuses new crossings and loses the answer of one in flight (the far side may have acted: callers
retry, and both sides are idempotent). The state lives in a small JSON file, so ``datastrata trading link cut``
reaches every process of the system on the host.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
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
        self._refuse_if_cut(state, what, "was not sent")
        self.sleep(state.latency_ms / 1000)
        self._refuse_if_cut(self.state(), what, "was lost on the way")
        answer = call()
        self.sleep(state.latency_ms / 1000)
        self._refuse_if_cut(self.state(), what, "was carried out, but its answer was lost")
        self.crossings += 1
        return answer

    def _refuse_if_cut(self, state: LinkState, what: str, fate: str) -> None:
        if state.cut:
            raise BackendUnavailable(
                f"the link between New York and Singapore is cut: the {what} {fate}; it is retried once the link "
                "is restored (`datastrata trading link restore`)"
            )
