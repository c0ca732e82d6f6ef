"""Object storage: bytes through ``pyarrow.fs``; storage classes and restores through the S3 API or a sidecar.

A local folder (``file:///dir``) is the default; ``s3://bucket/prefix?endpoint=http://host:port&region=…`` is any
S3-compatible service (credentials from the usual AWS environment variables). pyarrow's S3 filesystem cannot set
a storage class or restore an object, so those go through boto3 on S3. Each object has a sidecar under
``.tiering/`` (in the folder or the bucket) holding when it entered its class and its restore request; the local
folder keeps the class there too, so both backends answer the same contract. Restore ETAs come from the price
table's restore times (:mod:`datastrata.tiering.prices`), measured on the platform clock: S3-compatible test
servers complete restores at once, and a real S3 is no faster than its published bound.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

from pyarrow import fs

from datastrata.core.clock import Clock, system_clock
from datastrata.core.errors import ConfigurationError, NotFound, RuleViolation, ValidationError
from datastrata.core.redact import redact_url
from datastrata.core.validation import bounded_text
from datastrata.tiering.policy import STORAGE_CLASSES
from datastrata.tiering.prices import TieringPrices, default_prices

SIDECARS = ".tiering/"
#: Classes whose objects must be restored before they can be read.
ARCHIVE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")


@dataclass(frozen=True, slots=True)
class Restore:
    """A restore request: its tier, when it was asked for, when the copy is readable and until when."""

    tier: str
    requested_at: datetime
    ready_at: datetime
    expires_at: datetime

    def readable(self, now: datetime) -> bool:
        """True while the restored copy can be read."""
        return self.ready_at <= now < self.expires_at

    def to_dict(self) -> dict[str, str]:
        """Return a JSON-friendly dict."""
        return {
            "tier": self.tier,
            "requested_at": self.requested_at.isoformat(),
            "ready_at": self.ready_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Restore:
        """Read a restore from its sidecar form."""
        return cls(
            data["tier"],
            datetime.fromisoformat(data["requested_at"]),
            datetime.fromisoformat(data["ready_at"]),
            datetime.fromisoformat(data["expires_at"]),
        )


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What the store knows of one object."""

    key: str
    size: int
    storage_class: str
    placed_at: datetime
    created_at: datetime
    restore: Restore | None = None
    #: The lifecycle stage its owner set (e.g. a model's approval status), or None.
    stage: str | None = None

    def readable(self, now: datetime) -> bool:
        """True when the object can be read now (not archived, or restored and not yet expired again)."""
        if self.storage_class not in ARCHIVE_CLASSES:
            return True
        return self.restore is not None and self.restore.readable(now)


class ObjectStore:
    """Objects under one folder or bucket prefix, each with a storage class and a restore state."""

    def __init__(self, url: str, *, clock: Clock = system_clock, prices: TieringPrices | None = None) -> None:
        self.url = url
        self.clock = clock
        self.prices = prices or default_prices()
        parsed = urlparse(url)
        self._s3: Any = None
        if parsed.scheme == "file":
            self.fs: fs.FileSystem = fs.LocalFileSystem()
            self.root = parsed.path.rstrip("/")
            self.fs.create_dir(self.root, recursive=True)
        elif parsed.scheme == "s3":
            self.bucket = parsed.netloc
            self._prefix = parsed.path.strip("/")
            self.root = f"{self.bucket}/{self._prefix}".rstrip("/")
            options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
            self._s3, self.fs = _s3_clients(options)
        else:
            raise ConfigurationError(
                f"objects URL {redact_url(url)!r} must be file:///folder or s3://bucket/prefix", field="objects"
            )

    @property
    def local(self) -> bool:
        """True for a local folder (its files can be read by path, e.g. by DuckDB's ``read_parquet``)."""
        return self._s3 is None

    @property
    def shown(self) -> str:
        """The store's URL without secrets."""
        return redact_url(self.url)

    def path(self, key: str) -> str:
        """The pyarrow.fs path of `key` (for writers such as Parquet that take a filesystem and a path)."""
        return f"{self.root}/{_checked(key)}"

    def put(self, key: str, data: bytes, *, storage_class: str = "STANDARD", stage: str | None = None) -> ObjectInfo:
        """Write `data` as `key` in `storage_class` (replacing any object of that key), in lifecycle `stage`."""
        _class(storage_class)
        with self.fs.open_output_stream(self.writable(key)) as out:
            out.write(data)
        return self.placed(key, storage_class, stage=stage)

    def writable(self, key: str) -> str:
        """The path of `key`, with its folder made on a local store (for writers through :attr:`fs`)."""
        path = self.path(key)
        if self._s3 is None:
            self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        return path

    def placed(self, key: str, storage_class: str, *, stage: str | None = None) -> ObjectInfo:
        """Record that `key`, just written through :attr:`fs`, is kept in `storage_class` from now on."""
        _class(storage_class)
        if self._s3 is not None and storage_class != "STANDARD":
            self._s3_copy(key, storage_class)
        now = self.clock().isoformat()
        side: dict[str, Any] = {"class": storage_class, "placed_at": now, "created_at": now}
        if stage is not None:
            side["stage"] = bounded_text(stage, field="stage", max_length=100)
        self._write_sidecar(key, side)
        return self.info(key)

    def set_stage(self, key: str, stage: str) -> ObjectInfo:
        """Set the object's lifecycle stage (the owner's word: e.g. a model is now ``approved``)."""
        self.info(key)
        side = self._read_sidecar(key)
        side["stage"] = bounded_text(stage, field="stage", max_length=100)
        self._write_sidecar(key, side)
        return self.info(key)

    def read(self, key: str) -> bytes:
        """Return the object's bytes; an archived object must be restored first."""
        info = self.info(key)
        if not info.readable(self.clock()):
            raise RuleViolation(_frozen_message(info, self.clock()))
        with self.fs.open_input_stream(self.path(key)) as stream:
            data: bytes = stream.read()
        return data

    def sha256(self, key: str) -> str:
        """The SHA-256 of the object's bytes, read back from the store."""
        return hashlib.sha256(self.read(key)).hexdigest()

    def copy_to(self, key: str, other: ObjectStore) -> ObjectInfo:
        """Copy `key` into `other` as it is here: its bytes, storage class, stage and ages (an archived object must
        be restored first); return it as `other` now holds it.

        A restored copy is this store's, for a while: in `other` an archived object is archived again (not restored),
        and its SHA-256 is recorded there, so :meth:`checksum` answers for it without a restore.
        """
        data = self.read(key)
        side = self._read_sidecar(key)
        side.pop("restore", None)
        side["sha256"] = hashlib.sha256(data).hexdigest()
        with other.fs.open_output_stream(other.writable(key)) as out:
            out.write(data)
        storage_class = str(side.get("class", "STANDARD"))
        if other._s3 is not None and storage_class != "STANDARD":
            other._s3_copy(key, storage_class)
        other._write_sidecar(key, side)
        return other.info(key)

    def checksum(self, key: str) -> str | None:
        """The SHA-256 of the object's bytes: read back when readable, else as recorded when it was copied in (None:
        archived and never copied here, so unknown until restored)."""
        if self.info(key).readable(self.clock()):
            return self.sha256(key)
        found = self._read_sidecar(key).get("sha256")
        return None if found is None else str(found)

    def info(self, key: str) -> ObjectInfo:
        """Return what the store knows of `key`; NotFound if there is no such object."""
        stat = self.fs.get_file_info(self.path(key))
        if stat.type != fs.FileType.File:
            raise NotFound(f"no object {key!r} in {self.shown}")
        side = self._read_sidecar(key)
        mtime = stat.mtime  # objects written without a sidecar: their age counts from the write
        written = self.clock() if mtime is None else (mtime if mtime.tzinfo else mtime.replace(tzinfo=UTC))
        placed_at = datetime.fromisoformat(side["placed_at"]) if "placed_at" in side else written
        created_at = datetime.fromisoformat(side["created_at"]) if "created_at" in side else placed_at
        storage_class = self._s3_class(key) if self._s3 is not None else str(side.get("class", "STANDARD"))
        restore = Restore.from_dict(side["restore"]) if "restore" in side else None
        stage = side.get("stage")
        return ObjectInfo(key, int(stat.size or 0), storage_class, placed_at, created_at, restore, stage)

    def exists(self, key: str) -> bool:
        """True when `key` is stored."""
        return bool(self.fs.get_file_info(self.path(key)).type == fs.FileType.File)

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object whose key starts with `prefix`, in key order (sidecars excluded)."""
        base = f"{self.root}/{prefix}".rstrip("/") if prefix else self.root
        folder = base if prefix.endswith("/") or not prefix else base.rsplit("/", 1)[0]
        found = self.fs.get_file_info(fs.FileSelector(folder, recursive=True, allow_not_found=True))
        keys = sorted(
            f.path[len(self.root) + 1 :] for f in found if f.type == fs.FileType.File and f.path.startswith(base)
        )
        return [self.info(k) for k in keys if not k.startswith(SIDECARS)]

    def delete(self, key: str) -> None:
        """Delete `key` and its sidecar; deleting what is already gone is not an error."""
        for path in (self.path(key), self.path(SIDECARS + key + ".json")):
            if self.fs.get_file_info(path).type == fs.FileType.File:
                self.fs.delete_file(path)

    def set_class(self, key: str, storage_class: str) -> ObjectInfo:
        """Keep `key` in `storage_class` from now on (an archived object is restored first)."""
        _class(storage_class)
        info = self.info(key)
        if info.storage_class == storage_class:
            return info
        deeper = _deeper_archive(info.storage_class, storage_class)
        if not info.readable(self.clock()) and not deeper:
            raise RuleViolation(_frozen_message(info, self.clock()))
        if self._s3 is not None and deeper and not info.readable(self.clock()):
            raise RuleViolation(
                f"object {key!r} is in {info.storage_class}: S3 cannot copy it to {storage_class} without a restore; "
                "let a bucket lifecycle rule make that transition, or restore the object first"
            )
        if self._s3 is not None:
            self._s3_copy(key, storage_class)
        side = self._read_sidecar(key)
        side.update({"class": storage_class, "placed_at": self.clock().isoformat()})
        side.pop("restore", None)
        self._write_sidecar(key, side)
        return self.info(key)

    def restore(self, key: str, *, tier: str, days: int) -> Restore:
        """Ask for a readable copy of an archived object for `days` days; returns when it is ready (the ETA).

        Asking again while a request stands returns that request: the first one decides the ETA.
        """
        if not 1 <= days <= 365:
            raise ValidationError(f"days must be between 1 and 365; got {days}", field="days")
        info = self.info(key)
        now = self.clock()
        if info.storage_class not in ARCHIVE_CLASSES:
            raise ValidationError(
                f"object {key!r} is in {info.storage_class} and readable as it is; only "
                f"{' and '.join(ARCHIVE_CLASSES)} objects are restored",
                field="key",
            )
        if info.restore is not None and now < info.restore.expires_at:
            return info.restore
        duration = self.prices.restore(info.storage_class, tier).duration
        ready = now + duration
        request = Restore(tier, now, ready, ready + timedelta(days=days))
        if self._s3 is not None:
            self._s3.restore_object(
                Bucket=self.bucket,
                Key=self._s3_key(key),
                RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": tier.capitalize()}},
            )
        side = self._read_sidecar(key)
        side["restore"] = request.to_dict()
        self._write_sidecar(key, side)
        return request

    def _read_sidecar(self, key: str) -> dict[str, Any]:
        path = self.path(SIDECARS + key + ".json")
        if self.fs.get_file_info(path).type != fs.FileType.File:
            return {}
        with self.fs.open_input_stream(path) as stream:
            data: dict[str, Any] = json.loads(stream.read())
        return data

    def _write_sidecar(self, key: str, data: dict[str, Any]) -> None:
        with self.fs.open_output_stream(self.writable(SIDECARS + key + ".json")) as out:
            out.write(json.dumps(data, sort_keys=True).encode())

    def _s3_key(self, key: str) -> str:
        return f"{self._prefix}/{key}" if self._prefix else key

    def _s3_class(self, key: str) -> str:
        head = self._s3.head_object(Bucket=self.bucket, Key=self._s3_key(key))
        return str(head.get("StorageClass") or "STANDARD")

    def _s3_copy(self, key: str, storage_class: str) -> None:
        name = self._s3_key(key)
        self._s3.copy_object(
            Bucket=self.bucket,
            Key=name,
            CopySource={"Bucket": self.bucket, "Key": name},
            StorageClass=storage_class,
            MetadataDirective="COPY",
        )


def _s3_clients(options: dict[str, str]) -> tuple[Any, fs.FileSystem]:
    try:
        import boto3
    except ImportError:
        raise ConfigurationError(
            "s3:// objects need boto3: pip install 'datastrata[tiering]'", field="objects"
        ) from None
    endpoint = options.get("endpoint")
    region = options.get("region", "us-east-1")
    session = boto3.session.Session(region_name=region)
    client = session.client("s3", endpoint_url=endpoint)
    credentials = session.get_credentials()  # pyarrow gets the same chain boto3 resolved (env, profile, role)
    kwargs: dict[str, Any] = {"region": region}
    if credentials is not None:
        frozen = credentials.get_frozen_credentials()
        kwargs.update(access_key=frozen.access_key, secret_key=frozen.secret_key, session_token=frozen.token)
    if endpoint:
        parsed = urlparse(endpoint)
        kwargs.update(endpoint_override=parsed.netloc, scheme=parsed.scheme or "https")
    return client, fs.S3FileSystem(**kwargs)


def _checked(key: str) -> str:
    if not key or key.startswith("/") or ".." in key.split("/") or len(key) > 900:
        raise ValidationError(f"object key must be a relative path without '..'; got {key[:60]!r}", field="key")
    return key


def _class(storage_class: str) -> None:
    if storage_class not in STORAGE_CLASSES:
        raise ValidationError(
            f"storage class must be one of {', '.join(STORAGE_CLASSES)}; got {storage_class!r}", field="storage_class"
        )


def _deeper_archive(current: str, target: str) -> bool:
    """True for an archive-to-colder-archive transition (GLACIER → DEEP_ARCHIVE), which needs no restore."""
    return (
        current in ARCHIVE_CLASSES
        and target in ARCHIVE_CLASSES
        and (ARCHIVE_CLASSES.index(target) > ARCHIVE_CLASSES.index(current))
    )


def _frozen_message(info: ObjectInfo, now: datetime) -> str:
    if info.restore is not None and now < info.restore.ready_at:
        return (
            f"object {info.key!r} is being restored ({info.restore.tier}); it is readable from "
            f"{info.restore.ready_at.isoformat()}"
        )
    return (
        f"object {info.key!r} is in the archive class {info.storage_class}; restore it first "
        "(ObjectStore.restore with tier expedited, standard or bulk)"
    )
