"""One open LadybugDB database per path and process, shared by every runtime that names it.

LadybugDB lets a process open the same file twice, but two ``Database`` objects keep two write-ahead logs and
must not write to one file. Services therefore acquire the database here and release it when done; the last
release closes it. Across processes LadybugDB locks the file itself; the process that opened it writes its PID
into ``<graph>.owner`` (see :mod:`datastrata.graph.ownership`), so a second one is told who owns it.
"""

from __future__ import annotations

import threading
from pathlib import Path

from datastrata.graph import ownership
from datastrata.stores.graphdb import GraphDatabase, ladybug_path, open_graph

_lock = threading.Lock()
_open: dict[Path, tuple[GraphDatabase, int]] = {}


def _key(url: str | Path) -> Path:
    path = ladybug_path(url) if isinstance(url, str) else url
    return path.expanduser().resolve()


def acquire(url: str | Path, *, auto_checkpoint: bool = True) -> GraphDatabase:
    """Return the process's open database at `url` (opening it on first use) and count one more user.

    ``auto_checkpoint=False`` (applied when this call opens the database) stops LadybugDB from folding the
    write-ahead log into the files inside a commit once it passes 16 MiB; the writer then checkpoints itself.
    """
    key = _key(url)
    with _lock:
        db, users = _open.get(key, (None, 0))
        if db is None:
            db = ownership.open_owned(key, open_graph)
            if not auto_checkpoint:
                db.disable_auto_checkpoint()
        _open[key] = (db, users + 1)
        return db


def release(db: GraphDatabase) -> None:
    """Count one user less of `db`; the last one closes it."""
    key = _key(db.path)
    with _lock:
        held, users = _open.get(key, (None, 0))
        if held is not db:
            return
        if users > 1:
            _open[key] = (db, users - 1)
            return
        del _open[key]
    try:
        db.close()
    finally:
        ownership.disown(key)
