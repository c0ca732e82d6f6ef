"""Graph generations: the live LadybugDB file a graph path names, switched by a pointer file beside it.

A graph configured at ``dir/name`` starts as the file ``dir/name`` itself (generation 1; graphs made before
generations keep working). A rebuild fills the next generation, ``dir/name.gen<N>``, beside the live one, and
switches by replacing the pointer ``dir/name.live`` (one ``os.replace``: atomic); the old generation's files are
removed afterwards. The pointer also names the generation a rebuild is building, so a killed rebuild resumes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

#: The files LadybugDB keeps for a database file ``x``: ``x`` and its write-ahead log.
_SIDECARS = ("", ".wal", ".shadow", ".tmp")


@dataclass(frozen=True, slots=True)
class Pointer:
    """What the pointer file says: the live generation's file name and the one a rebuild is building (or None)."""

    live: str
    building: str | None = None
    switches: int = 0


def pointer_file(path: Path) -> Path:
    """Return the pointer file of the graph configured at `path`."""
    return path.with_name(path.name + ".live")


def read_pointer(path: Path) -> Pointer:
    """Return the pointer of the graph at `path` (the path itself live when it has none)."""
    try:
        found = json.loads(pointer_file(path).read_text())
    except (FileNotFoundError, NotADirectoryError):  # no pointer: the path itself is live (opening it says more)
        return Pointer(path.name)
    except (OSError, ValueError) as exc:
        raise OSError(f"the graph pointer {pointer_file(path)} is unreadable ({exc}); restore it or rebuild") from exc
    building = found.get("building")
    return Pointer(str(found["live"]), str(building) if building else None, int(found.get("switches", 0)))


def write_pointer(path: Path, pointer: Pointer) -> None:
    """Replace the pointer of the graph at `path` atomically (written beside, flushed, then renamed)."""
    target = pointer_file(path)
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    data = {"live": pointer.live, "building": pointer.building, "switches": pointer.switches}
    with open(temporary, "w") as out:
        out.write(json.dumps(data))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, target)
    with contextlib.suppress(OSError):  # make the rename itself durable
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def live_file(path: Path) -> Path:
    """Return the database file the graph at `path` answers from now."""
    return path.with_name(read_pointer(path).live)


def next_generation(path: Path, pointer: Pointer) -> str:
    """Return the file name of the generation after every one the pointer names."""
    numbers = [_number(path, name) for name in (pointer.live, pointer.building) if name]
    return f"{path.name}.gen{max(numbers) + 1}"


def _number(path: Path, name: str) -> int:
    if name == path.name:
        return 1
    found = re.fullmatch(re.escape(path.name) + r"\.gen(\d+)", name)
    if found is None:
        raise OSError(f"the graph pointer {pointer_file(path)} names {name!r}, not a generation of {path.name}")
    return int(found.group(1))


def generations(path: Path) -> list[str]:
    """Return the generation files of the graph at `path` present on disk."""
    if not path.parent.is_dir():
        return []
    pattern = re.compile(re.escape(path.name) + r"(\.gen\d+)?")
    return sorted(p.name for p in path.parent.iterdir() if pattern.fullmatch(p.name))


def remove_generation(path: Path, name: str) -> None:
    """Delete the files of generation `name` of the graph at `path` (never the live one: the caller checks)."""
    for suffix in _SIDECARS:
        with contextlib.suppress(FileNotFoundError):
            (path.parent / (name + suffix)).unlink()


def remove_stale(path: Path) -> list[str]:
    """Delete generations neither live nor being built (left by a crash after a switch); return their names."""
    pointer = read_pointer(path)
    stale = [name for name in generations(path) if name not in (pointer.live, pointer.building)]
    for name in stale:
        remove_generation(path, name)
    return stale
