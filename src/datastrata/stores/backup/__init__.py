"""Backup and restore of one location's store: a directory with the store's copy and a verified manifest.

``backup(store, to_dir)`` writes the copy (SQLite's online backup API, or ``pg_dump -Fc``) and ``manifest.json``;
``restore(url, from_dir)`` checks the manifest and checksums, then replaces the store and gives its log a new
identity (recording the one it was restored from): the restored log hands out positions past the backup again,
so a checkpoint or consistency token of the log before the restore is refused rather than mistaken for this one.
Derived stores (read models, the graph) are rebuilt against the new identity (``datastrata restore`` does).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from datastrata.core.config import sqlite_path, url_scheme
from datastrata.core.errors import BackendUnavailable, ConfigurationError, ValidationError
from datastrata.core.redact import redact
from datastrata.stores.backup import postgres, sqlite
from datastrata.stores.backup.manifest import BackupFile, LogMark, Manifest, fsync_dir, read_verified
from datastrata.stores.database import Database, Dialect

__all__ = ["LogMark", "Manifest", "backup", "dialect_of", "restore", "verify"]
Say = Callable[[str], None]


def _quiet(_: str) -> None:
    """Say nothing."""


def dialect_of(url: str) -> Dialect:
    """Return the dialect a store URL names, refusing other schemes."""
    scheme = url_scheme(url, role="store")
    if scheme == "sqlite":
        return "sqlite"
    if scheme in {"postgresql", "postgres"}:
        return "postgresql"
    raise ConfigurationError(f"cannot back up a {scheme!r} store; use sqlite:///path.db or postgresql://…")


def backup(store: Database | str, to_dir: Path | str, *, say: Say = _quiet) -> Manifest:
    """Back up `store` into the new or empty directory `to_dir`; return the manifest written there.

    The copy is assembled in a hidden folder beside `to_dir` and renamed into place last, so an interrupted run
    leaves no half backup behind and can simply be run again.
    """
    url = store.url if isinstance(store, Database) else store
    dialect = dialect_of(url)
    target = Path(to_dir)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ValidationError(f"{target} exists and is not an empty directory; give --to a new or empty directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        created_at = datetime.now(UTC)
        engine = sqlite if dialect == "sqlite" else postgres
        mark, tool = engine.dump(url, staging, say)
        files = tuple(BackupFile.of(staging / name) for name in sorted(p.name for p in staging.iterdir()))
        manifest = Manifest(dialect, redact(url), created_at, mark, files, tool)
        manifest.write(staging)
        fsync_dir(staging)
        staging.replace(target)  # an empty directory is replaced atomically, as a missing one is created
        fsync_dir(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"backup of {manifest.source} in {target}: {mark.events} events, log head {mark.head}")
    return manifest


def verify(from_dir: Path | str, url: str | None = None) -> Manifest:
    """Check a backup's manifest and checksums (and, given `url`, that it fits that store); return the manifest."""
    manifest = read_verified(Path(from_dir))
    if url is not None and manifest.dialect != dialect_of(url):
        raise ValidationError(
            f"backup {from_dir} holds a {manifest.dialect} store but {redact(url)} is {dialect_of(url)}; restore it "
            f"into a {manifest.dialect} store URL, or back up the {dialect_of(url)} store itself"
        )
    return manifest


def restore(url: str, from_dir: Path | str, *, say: Say = _quiet) -> Manifest:
    """Replace the store at `url` with the backup in `from_dir`, after checking it; return its manifest."""
    folder = Path(from_dir)
    manifest = verify(folder, url)
    say(f"backup verified: {manifest.source} at {manifest.created_at:%Y-%m-%d %H:%M:%S}Z, {manifest.log.events} events")
    if manifest.dialect == "sqlite":
        sqlite.load(url, folder, manifest.files[0].sha256, say)
    else:
        postgres.load(url, folder, say)
    mark = _log_mark(url)
    if mark != manifest.log:
        raise BackendUnavailable(
            f"restored {redact(url)} holds log {mark.identity} with {mark.events} events up to {mark.head}, the "
            f"backup log {manifest.log.identity} with {manifest.log.events} up to {manifest.log.head}; run restore "
            "again, and if it repeats the backup is unusable"
        )
    old, new = _renew_identity(url, manifest)
    say(f"restored {redact(url)}: log {new} (restored from {old}), {mark.events} events, head {mark.head}")
    return manifest


def _renew_identity(url: str, manifest: Manifest) -> tuple[str, str]:
    """Give the restored log a new identity, recording the old one and the backup's time; return both."""
    from datastrata.eventlog.log import EventLog
    from datastrata.eventlog.schema import MIGRATIONS
    from datastrata.stores.migrations import migrate
    from datastrata.stores.open import open_database

    db = open_database(url)
    try:
        migrate(db, [MIGRATIONS])  # a backup of an older release may predate the lineage table
        return EventLog(db).renew_identity(backup_taken_at=manifest.created_at)
    finally:
        db.close()


def _log_mark(url: str) -> LogMark:
    """Read where the restored log stands."""
    if dialect_of(url) == "sqlite":
        return sqlite.log_mark_of(sqlite_path(url))
    with postgres.connect(url) as conn:
        return postgres.log_mark(conn)
