"""Processes on one host that find each other: run files naming a live pid, SIGTERM handling, child processes.

A long-running process (``trading up``, ``commerce up``) serves on a port and announces it in
``<folder>/up/<name>.json`` (its pid, host and port); peers read that file on every call, so a process restarted on
a new port is found at once. A kill -9 leaves a run file naming a dead pid, which readers ignore; a clean stop
withdraws it. SIGTERM or SIGINT sets a stop event the process waits on; a parent running several of them as child
processes stops them all when it is told to, or when one of them ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from datastrata.core.errors import ConfigurationError, ValidationError

#: Seconds a child process has to stop after SIGTERM before it is killed.
STOP_GRACE = 15.0
#: Seconds between two looks at the children (and at the stop event).
WATCH_EVERY = 0.5


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a running process listens."""

    name: str
    pid: int
    host: str
    port: int

    @property
    def url(self) -> str:
        """The base URL of its HTTP server."""
        return f"http://{self.host}:{self.port}"

    def to_dict(self) -> dict[str, Any]:
        """Return the run file's JSON shape."""
        return {"name": self.name, "pid": self.pid, "host": self.host, "port": self.port}


def check_port(value: int) -> int:
    """Return `value` if it is a TCP port (0: the system chooses)."""
    if not 0 <= value <= 65535:
        raise ValidationError(f"port must be from 0 (any free port) to 65535; got {value}", field="port")
    return value


def run_file(folder: Path, name: str) -> Path:
    """The file a running process `name` announces its address in."""
    return folder / "up" / f"{name}.json"


def write_atomically(path: Path, data: Mapping[str, Any]) -> Path:
    """Write `data` as JSON to `path` so a reader sees the old content or the new, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(dict(data)))
    os.replace(temporary, path)
    return path


def announce(folder: Path, endpoint: Endpoint) -> Path:
    """Write `endpoint`'s run file (atomically: a reader sees the old address or the new one)."""
    return write_atomically(run_file(folder, endpoint.name), endpoint.to_dict())


def withdraw(folder: Path, endpoint: Endpoint) -> None:
    """Remove `endpoint`'s run file if it is still this process's."""
    if running(folder, endpoint.name) == endpoint:
        run_file(folder, endpoint.name).unlink(missing_ok=True)


def alive(pid: int) -> bool:
    """Whether process `pid` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def running(folder: Path, name: str) -> Endpoint | None:
    """The endpoint of process `name` when its run file names a live process on this host, else None."""
    try:
        data = json.loads(run_file(folder, name).read_text())
        endpoint = Endpoint(str(data["name"]), int(data["pid"]), str(data["host"]), int(data["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return endpoint if alive(endpoint.pid) else None  # killed without withdrawing (kill -9): ignored


def refuse_if_running(folder: Path, name: str, *, field: str) -> None:
    """Raise when process `name` already runs from `folder` (a second one would share its stores)."""
    already = running(folder, name)
    if already is not None:
        raise ConfigurationError(
            f"{name} is already running here (pid {already.pid}, port {already.port}); stop it first "
            f"(kill -TERM {already.pid}) or give this one another --store",
            field=field,
        )


def stop_on_signals(stop: threading.Event) -> None:
    """Set `stop` on SIGTERM or SIGINT (call from the main thread)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handler)


def stop_event(stop: threading.Event | None) -> threading.Event:
    """`stop`, or a new event that SIGTERM and SIGINT set."""
    if stop is not None:
        return stop
    made = threading.Event()
    stop_on_signals(made)
    return made


def run_children(
    commands: Mapping[str, Sequence[str]],
    *,
    say: Callable[[str], None] = print,
    stop: threading.Event | None = None,
    grace: float = STOP_GRACE,
) -> int:
    """Run each command as a child process until SIGTERM (or `stop`) or until one ends; the exit status.

    Stopping sends every child SIGTERM and waits `grace` seconds for it before killing it. The status is 0 after a
    stop asked for, else the first ended child's status (1 when that was 0: it was not asked to stop).
    """
    stop = stop_event(stop)
    children: dict[str, subprocess.Popen[bytes]] = {}
    status = 0
    try:
        for name, command in commands.items():
            children[name] = subprocess.Popen(list(command), env=os.environ)
        while not stop.wait(WATCH_EVERY):
            ended = {name: child.returncode for name, child in children.items() if child.poll() is not None}
            if ended:
                say(f"{', '.join(ended)} stopped (exit {', '.join(map(str, ended.values()))}); stopping the others")
                status = next(iter(ended.values())) or 1
                break
    finally:
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        for child in children.values():
            try:
                child.wait(grace)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return status
