"""Cold parts of a rows dataset as an Apache Iceberg table, so Spark, Trino or Athena can read them.

The mover writes each day's Parquet part once; this module registers the same file in an Iceberg table
(pyiceberg's ``add_files``: metadata only, the data is not written twice), partitioned by day of the time
column. The catalog is pyiceberg's SQL catalog in the project's store (its ``iceberg_*`` tables, in the SQLite
file or the PostgreSQL database, made by our migration ``tiering.iceberg`` 1); the warehouse (metadata and
manifests) is ``iceberg/`` in the same object store. :meth:`IcebergTables.sync` makes the table hold exactly
the recorded parts still online: it adds what is missing (a part recorded before a crash) and drops the files
of expired days, so every call is idempotent and the next run finishes whatever a crash left. One writer at a
time: syncs are serialised by a lock (a file lock beside a SQLite store, an advisory lock in PostgreSQL).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import pyarrow.parquet as pq

from datastrata.core.errors import ConfigurationError, ValidationError
from datastrata.core.redact import describe_error, redact_url
from datastrata.stores.database import Database
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.policy import Dataset
from datastrata.tiering.schema import ICEBERG_CATALOG

#: The object-store folder holding every Iceberg table's metadata and manifests.
WAREHOUSE = "iceberg"
CATALOG = "datastrata"
#: The PostgreSQL advisory lock key serialising Iceberg writers ("iceberg" as a number).
WRITER_LOCK = int(hashlib.sha256(b"datastrata.tiering.iceberg").hexdigest()[:15], 16)


@dataclass(frozen=True, slots=True)
class Synced:
    """What one sync changed in a dataset's table, and which recorded parts it could not register yet."""

    table: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    pending: tuple[str, ...]


class IcebergTables:
    """The Iceberg tables of a policy's rows datasets, in a SQL catalog in `db` and a warehouse in `objects`."""

    def __init__(self, db: Database, objects: ObjectStore) -> None:
        self.db = db
        self.objects = objects
        self._catalog: Any = None

    @property
    def warehouse(self) -> str:
        """The warehouse URL: ``iceberg/`` in the object store."""
        return self.uri(WAREHOUSE)

    def uri(self, key: str) -> str:
        """The URL of object `key` as Iceberg readers address it (``file:///…`` or ``s3://bucket/…``)."""
        scheme = "s3" if urlparse(self.objects.url).scheme == "s3" else "file"
        return f"{scheme}://{self.objects.path(key)}"

    def catalog(self) -> Any:
        """pyiceberg's SQL catalog in the project's store (its tables come from migration ``tiering.iceberg`` 1)."""
        if self._catalog is None:
            try:
                from pyiceberg.catalog.sql import SqlCatalog
            except ImportError:
                raise ConfigurationError(
                    "a dataset with iceberg: needs pyiceberg: pip install 'datastrata[iceberg]'", field="iceberg"
                ) from None
            self.db.ensure(ICEBERG_CATALOG)  # our migration makes pyiceberg's tables; it never runs DDL itself
            self._catalog = SqlCatalog(
                CATALOG,
                uri=_sqlalchemy_url(self.db),
                warehouse=self.warehouse,
                init_catalog_tables="false",
                **_file_io(self.objects),
            )
        return self._catalog

    def sync(self, ds: Dataset, parts: Sequence[str]) -> Synced:
        """Make `ds`'s table hold exactly the Parquet `parts` (object keys) that are readable; drop the rest."""
        wanted = {self.uri(key): key for key in parts}
        with self._writer():
            table = self._table(ds, parts)
            if table is None:
                return Synced(ds.iceberg, (), (), tuple(parts))
            present = {task.file.file_path: task.file for task in table.scan().plan_files()}
            now = self.objects.clock()
            readable = [u for u, key in wanted.items() if u not in present and self.objects.info(key).readable(now)]
            pending = tuple(wanted[u] for u in wanted if u not in present and u not in readable)
            gone = [f for path, f in present.items() if path not in wanted]
            if readable:
                try:
                    # pyiceberg prints a refused schema's field table to stdout (it is also in the error): not ours
                    with contextlib.redirect_stdout(io.StringIO()):
                        self._evolve(table, [wanted[u] for u in readable])
                        # `present` was read under the writer lock: no need to scan the manifests again for duplicates
                        table.add_files(
                            readable, snapshot_properties={"datastrata.dataset": ds.name}, check_duplicate_files=False
                        )
                except (ValueError, TypeError) as exc:
                    raise ValidationError(
                        f"datasets.{ds.name}.iceberg: the parts {readable[0]}… do not fit the table "
                        f"{ds.iceberg} ({describe_error(exc)}); keep each column's type (new columns are added), or "
                        "name a new table",
                        field=f"datasets.{ds.name}.iceberg.table",
                    ) from None
            if gone:
                with table.transaction() as tx, tx.update_snapshot().overwrite() as overwrite:
                    for data_file in gone:
                        overwrite.delete_data_file(data_file)
        return Synced(ds.iceberg, tuple(readable), tuple(f.file_path for f in gone), pending)

    def replace_file(self, old: str, new: str) -> bool:
        """In every table of the catalog naming the part `old` (an object key), name `new` instead; True if any did.

        A part rewritten in place of another (a tenant's rows taken out) stays registered wherever it was, without
        its dataset's policy at hand; with no table in the catalog, pyiceberg is not even imported.
        """
        self.db.ensure(ICEBERG_CATALOG)
        with self.db.read() as tx:
            if not int(tx.scalar("SELECT count(*) FROM iceberg_tables WHERE catalog_name = ?", (CATALOG,)) or 0):
                return False
        catalog = self.catalog()
        was, now = self.uri(old), self.uri(new)
        replaced = False
        with self._writer():
            for namespace in catalog.list_namespaces():
                for name in catalog.list_tables(namespace):
                    table = catalog.load_table(name)
                    present = {task.file.file_path: task.file for task in table.scan().plan_files()}
                    if was not in present:
                        continue
                    if now not in present:
                        table.add_files([now], check_duplicate_files=False)
                    with table.transaction() as tx, tx.update_snapshot().overwrite() as overwrite:
                        overwrite.delete_data_file(present[was])
                    replaced = True
        return replaced

    def describe(self, ds: Dataset, parts: Sequence[str]) -> dict[str, object]:
        """The table of `ds`: location, snapshots (oldest first), files, and recorded parts not registered."""
        catalog = self.catalog()
        if not catalog.table_exists(ds.iceberg):
            return {
                "dataset": ds.name,
                "table": ds.iceberg,
                "exists": False,
                "snapshots": [],
                "files": [],
                "pending": list(parts),
            }
        table = catalog.load_table(ds.iceberg)
        files = table.inspect.files().select(["file_path", "partition", "record_count", "file_size_in_bytes"])
        listed = [
            {
                "path": f["file_path"],
                "day": str(next(iter(f["partition"].values()), "")),
                "rows": f["record_count"],
                "bytes": f["file_size_in_bytes"],
            }
            for f in sorted(files.to_pylist(), key=lambda f: str(f["file_path"]))
        ]
        registered = {f["path"] for f in listed}
        return {
            "dataset": ds.name,
            "table": ds.iceberg,
            "exists": True,
            "location": table.location(),
            "metadata": table.metadata_location,
            "catalog": redact_url(_sqlalchemy_url(self.db)),
            "partitioning": str(table.spec()).replace("\n", " ").strip(),
            "snapshots": [_snapshot(s) for s in table.snapshots()],
            "files": listed,
            "pending": [key for key in parts if self.uri(key) not in registered],
        }

    def _table(self, ds: Dataset, parts: Sequence[str]) -> Any:
        """The dataset's table, created from the first part's schema (partitioned by day) when missing."""
        catalog = self.catalog()
        if catalog.table_exists(ds.iceberg):
            return catalog.load_table(ds.iceberg)
        now = self.objects.clock()
        first = next((key for key in parts if self.objects.info(key).readable(now)), None)
        if first is None:
            return None
        from pyiceberg.transforms import DayTransform

        schema = self._schema(first)
        namespace = ds.iceberg.rsplit(".", 1)[0]
        catalog.create_namespace_if_not_exists(namespace)
        try:
            with catalog.create_table_transaction(ds.iceberg, schema=schema) as tx, tx.update_spec() as spec:
                spec.add_field(ds.time_column, DayTransform(), f"{ds.time_column}_day")
        except (ValueError, TypeError) as exc:
            raise ValidationError(
                f"datasets.{ds.name}.iceberg: its Parquet schema cannot be an Iceberg table ({describe_error(exc)}); "
                "give every column a type (no column of nulls only)",
                field=f"datasets.{ds.name}.iceberg.table",
            ) from None
        return catalog.load_table(ds.iceberg)

    def _evolve(self, table: Any, keys: Sequence[str]) -> None:
        """Add the columns the parts have and the table lacks (a column added to the store's table later)."""
        names = {f.name for f in table.schema().fields}
        for key in keys:
            schema = self._schema(key)
            if set(schema.names) - names:
                with table.update_schema() as update:
                    update.union_by_name(schema)
                names |= set(schema.names)

    def _schema(self, key: str) -> Any:
        with self.objects.fs.open_input_file(self.objects.path(key)) as stream:
            return pq.read_schema(stream)

    @contextmanager
    def _writer(self) -> Iterator[None]:
        """Hold the one-writer lock: a file lock beside a SQLite store, an advisory lock in PostgreSQL."""
        if self.db.dialect == "sqlite":
            path = f"{_sqlite_file(self.db)}.iceberg.lock"
            with open(path, "a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        else:
            with self.db.transaction() as tx:
                tx.execute("SELECT pg_advisory_xact_lock(?)", (WRITER_LOCK,))
                yield


def _snapshot(snapshot: Any) -> dict[str, object]:
    summary = snapshot.summary
    extra = dict(summary.additional_properties) if summary is not None else {}
    return {
        "id": snapshot.snapshot_id,
        "parent": snapshot.parent_snapshot_id,
        "at": datetime.fromtimestamp(snapshot.timestamp_ms / 1000, tz=UTC).isoformat(),
        "operation": summary.operation.value if summary is not None else "",
        "added_files": int(extra.get("added-data-files", 0)),
        "removed_files": int(extra.get("deleted-data-files", 0)),
        "total_rows": int(extra.get("total-records", 0)),
    }


def _sqlite_file(db: Database) -> str:
    from datastrata.core.config import sqlite_path

    return str(sqlite_path(db.url).resolve())


def _sqlalchemy_url(db: Database) -> str:
    """The store's URL for SQLAlchemy: the SQLite file, or PostgreSQL through psycopg 3 (already a dependency)."""
    if db.dialect == "sqlite":
        return f"sqlite:///{_sqlite_file(db)}?timeout=30"
    rest = db.url.split("://", 1)[1]
    return f"postgresql+psycopg://{rest}"


def _file_io(objects: ObjectStore) -> dict[str, str]:
    """pyiceberg's FileIO properties for the object store: S3 endpoint, region and the resolved credentials."""
    parsed = urlparse(objects.url)
    if parsed.scheme != "s3":
        return {}
    options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    props = {"s3.region": options.get("region", "us-east-1")}
    if "endpoint" in options:
        props["s3.endpoint"] = options["endpoint"]
    import boto3

    credentials = boto3.session.Session().get_credentials()
    if credentials is not None:
        frozen = credentials.get_frozen_credentials()
        props.update({"s3.access-key-id": frozen.access_key, "s3.secret-access-key": frozen.secret_key})
        if frozen.token:
            props["s3.session-token"] = frozen.token
    return props
