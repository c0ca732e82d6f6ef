"""The manifest of a backup directory: what it holds, where from, and the checksums that prove it intact."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from datastrata.core.errors import NotFound, ValidationError
from datastrata.stores.database import Dialect

FORMAT = "datastrata-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_DIALECTS: tuple[Dialect, ...] = ("sqlite", "postgresql")


@dataclass(frozen=True, slots=True)
class BackupFile:
    """One file of a backup, with its size and sha256."""

    name: str
    size: int
    sha256: str

    @classmethod
    def of(cls, path: Path) -> BackupFile:
        """Measure `path`."""
        return cls(path.name, path.stat().st_size, sha256_of(path))


@dataclass(frozen=True, slots=True)
class LogMark:
    """Where the log stood: its identity (None before logs had one), highest position and event count."""

    identity: str | None
    head: int
    events: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a backup holds: the store's dialect, its redacted URL, the log at backup time and the files."""

    dialect: Dialect
    source: str
    created_at: datetime
    log: LogMark
    files: tuple[BackupFile, ...]
    tool: str
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape written to ``manifest.json``."""
        return {
            "format": FORMAT,
            "format_version": self.format_version,
            "dialect": self.dialect,
            "source": self.source,
            "created_at": self.created_at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "log": {"identity": self.log.identity, "head": self.log.head, "events": self.log.events},
            "tool": self.tool,
            "files": [{"name": f.name, "bytes": f.size, "sha256": f.sha256} for f in self.files],
        }

    @classmethod
    def from_dict(cls, data: Any, *, where: Path) -> Manifest:
        """Parse a manifest, refusing a foreign or malformed one with a message naming `where`."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValidationError(f"{where} is not a datastrata backup manifest; point --from at a `backup --to` dir")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValidationError(
                f"{where} has backup format version {version!r}; this datastrata reads version {FORMAT_VERSION}: "
                "restore it with the datastrata release that wrote it"
            )
        try:
            dialect = data["dialect"]
            if dialect not in _DIALECTS:
                raise ValueError(f"unknown dialect {dialect!r}")
            files = tuple(BackupFile(str(f["name"]), int(f["bytes"]), str(f["sha256"])) for f in data["files"])
            if not files or any(Path(f.name).name != f.name or f.name == MANIFEST for f in files):
                raise ValueError("the file list is empty or names a path outside the directory")
            return cls(
                dialect=dialect,
                source=str(data["source"]),
                created_at=datetime.fromisoformat(data["created_at"]).astimezone(UTC),
                log=LogMark(
                    None if data["log"].get("identity") is None else str(data["log"]["identity"]),
                    int(data["log"]["head"]),
                    int(data["log"]["events"]),
                ),
                files=files,
                tool=str(data.get("tool", "")),
                format_version=version,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"{where} is damaged ({exc}); restore from another backup") from None

    def write(self, folder: Path) -> Path:
        """Write ``manifest.json`` into `folder`, flushed to disk."""
        path = folder / MANIFEST
        with path.open("w", encoding="utf-8") as out:
            json.dump(self.to_dict(), out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        return path


def read_verified(folder: Path) -> Manifest:
    """Read the manifest of `folder` and check every file's size and sha256; refuse a damaged backup."""
    if not folder.is_dir():
        raise NotFound(f"backup directory {folder} does not exist; give --from the directory `backup --to` wrote")
    path = folder / MANIFEST
    if not path.is_file():
        raise ValidationError(f"{folder} has no {MANIFEST}, so it is not a datastrata backup; give another --from")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{path} is damaged ({exc}); restore from another backup") from None
    manifest = Manifest.from_dict(data, where=path)
    for expected in manifest.files:
        file = folder / expected.name
        if not file.is_file():
            raise ValidationError(f"backup {folder} is incomplete: {expected.name} is missing; use another backup")
        actual = BackupFile.of(file)
        if actual != expected:
            raise ValidationError(
                f"backup {folder} is damaged: {expected.name} has sha256 {actual.sha256[:12]}… ({actual.size} bytes), "
                f"the manifest says {expected.sha256[:12]}… ({expected.size} bytes); restore from another backup"
            )
    return manifest


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while block := data.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def fsync_dir(folder: Path) -> None:
    """Flush a directory's entries (a rename or a new file in it) to disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a file's contents to disk."""
    with path.open("rb+") as f:
        os.fsync(f.fileno())
