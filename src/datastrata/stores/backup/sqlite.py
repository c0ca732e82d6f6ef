"""SQLite backups: the online backup API for a copy, an atomic rename for a restore."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

from datastrata.core.config import sqlite_path
from datastrata.core.errors import BackendUnavailable, NotFound, ValidationError
from datastrata.stores.backup.manifest import LogMark, fsync_dir, fsync_file, sha256_of

FILE = "store.sqlite"
_SIDECARS = ("-wal", "-shm", "-journal")
Say = Callable[[str], None]


def dump(url: str, folder: Path, say: Say) -> tuple[LogMark, str]:
    """Copy the store into ``folder/store.sqlite`` in one read snapshot; return where its log stood, and the tool."""
    source = sqlite_path(url)
    if not source.is_file():
        raise NotFound(f"no SQLite store at {source}; check --store (or DATASTRATA_STORE)")
    target = folder / FILE
    say(f"copying {source} ({source.stat().st_size} bytes) with SQLite's online backup API")
    try:
        with contextlib.closing(sqlite3.connect(source, timeout=30)) as src:
            src.execute("PRAGMA busy_timeout=30000")
            with contextlib.closing(sqlite3.connect(target)) as dst:
                # One step (pages=-1) reads one snapshot: under WAL writers go on, and the copy never restarts.
                src.backup(dst, pages=-1)
                dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    except sqlite3.Error as exc:
        raise BackendUnavailable(f"cannot back up SQLite store {source}: {exc}") from exc
    fsync_file(target)
    return log_mark_of(target), f"sqlite3 {sqlite3.sqlite_version} backup API"


def log_mark_of(path: Path) -> LogMark:
    """Return where the log in an SQLite file stands (identity None, 0, 0 without a log)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        identity = None
        if "eventlog_identity" in tables:
            row = conn.execute("SELECT log_id FROM eventlog_identity WHERE singleton = 1").fetchone()
            identity = None if row is None else str(row[0])
        if "eventlog_events" not in tables:
            return LogMark(identity, 0, 0)
        head, events = conn.execute("SELECT coalesce(max(position), 0), count(*) FROM eventlog_events").fetchone()
        return LogMark(identity, int(head), int(events))


def load(url: str, folder: Path, expected_sha256: str, say: Say) -> None:
    """Replace the store's file with the backup's: copy beside it, check, fsync, rename; drop stale sidecars."""
    target = sqlite_path(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    refuse_if_in_use(target)
    staged = target.with_name(f".{target.name}.restore-{uuid.uuid4().hex[:8]}")
    try:
        say(f"copying the backup beside {target}")
        shutil.copyfile(folder / FILE, staged)
        fsync_file(staged)
        if sha256_of(staged) != expected_sha256:
            raise ValidationError(f"the copy of {folder / FILE} changed while it was read; run restore again")
        with contextlib.closing(sqlite3.connect(f"file:{staged}?mode=ro", uri=True)) as conn:
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise ValidationError(f"backup {folder} holds a damaged SQLite file ({check}); use another backup")
        for suffix in _SIDECARS:  # a stale WAL or journal beside the new file would be replayed into it
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        staged.replace(target)
        fsync_dir(target.parent)
        say(f"replaced {target}")
    finally:
        staged.unlink(missing_ok=True)


def refuse_if_in_use(target: Path) -> None:
    """Refuse when another connection (any process) has the store open: it would keep writing the old file."""
    if not target.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(target, timeout=0, isolation_level=None)) as conn:
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:  # "database is locked": someone holds it
        raise BackendUnavailable(
            f"SQLite store {target} is in use ({exc}); stop every `datastrata worker`, `serve` and other process "
            "that has it open, then run restore again"
        ) from None
    except sqlite3.DatabaseError:
        return  # not a database at all: nobody can be using it as one, and replacing it is the point
