"""PostgreSQL's own scatter path: a coordinator database whose partitioned tables have a foreign partition per shard.

The coordinator (a database of its own on a PostgreSQL server) holds ``postgres_fdw``, one foreign server and user
mapping per shard (``async_capable``), and for each sharded table a parent partitioned by LIST on ``shard``: one
foreign partition per shard of the map's current epoch, reading the view ``<table>__coordinated`` on that shard (its
rows and the shard's name). Not LIST on ``shard_slot``: a hash map gives each shard thousands of scattered slots,
more than a partition bound holds (docs/decisions.md). Queries run there with partitionwise aggregation and async
append on, so the shards are asked at once and a ``GROUP BY shard`` aggregate is computed on each shard. It records
the epoch each table was built from and refuses to answer once the map has moved on, until rebuilt (``--refresh``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from datastrata.core.errors import ConfigurationError, NotFound, RuleViolation, ValidationError
from datastrata.core.redact import redact_url
from datastrata.sharding.adhoc import check_read_sql
from datastrata.sharding.catalog import PG_NAME_MAX, ShardCatalog
from datastrata.sharding.maps import ShardMaps
from datastrata.stores.database import Row

if TYPE_CHECKING:
    import psycopg

    from datastrata.core.config import Settings

#: The view on each shard the coordinator's foreign partition reads: the table's rows and the shard's name.
VIEW_SUFFIX = "__coordinated"
_TABLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: The coordinator's own record of what it built: table, map, epoch.
_RECORD = """
CREATE TABLE IF NOT EXISTS datastrata_coordinator (
    table_name TEXT PRIMARY KEY,
    map_name   TEXT NOT NULL,
    epoch      BIGINT NOT NULL,
    built_at   TIMESTAMPTZ NOT NULL
)
"""


def check_table(name: object) -> str:
    """Return `name` if it is a plain lower-case table name."""
    if not isinstance(name, str) or not _TABLE.match(name):
        raise ValidationError(
            f"table must be 1-63 of a-z, 0-9 and '_', starting with a letter or '_'; got {name!r}", field="table"
        )
    return name


class Coordinator:
    """The coordinator database of one shard map: foreign partitions over its shards, rebuilt per epoch."""

    def __init__(
        self, settings: Settings, catalog: ShardCatalog, maps: ShardMaps, map_name: str, *, server: str | None = None
    ) -> None:
        from datastrata.tenancy.naming import _database_of, dialect_of

        self.catalog = catalog
        self.maps = maps
        self.map_name = map_name
        base = server or settings.store
        if dialect_of(base) != "postgresql":
            raise ConfigurationError(
                "the postgres_fdw coordinator needs a PostgreSQL server: a PostgreSQL home store, or --server URL",
                field="server",
            )
        self.settings = settings
        self.server = server
        name = f"{_database_of(settings.store) if server is None else 'datastrata'}_{map_name}_coordinator"
        self.database = name.replace("-", "_").replace(".", "_")[:PG_NAME_MAX]
        from datastrata.tenancy.naming import with_database

        self.url = with_database(base, self.database)

    # ---- building ---------------------------------------------------------------------------------------------

    def build(self, table: str, *, refresh: bool = False) -> dict[str, Any]:
        """Create the coordinator (once) and `table`'s foreign partitions for the map's current epoch.

        Without `refresh` a table already built is left as it is (its epoch reported); with it, the table's parent
        and partitions are replaced, in one transaction, by those of the current epoch.
        """
        table = check_table(table)
        current = self.maps.current(self.map_name)
        specs = self.catalog.specs(self.map_name)
        if not all(spec.store.startswith(("postgresql:", "postgres:")) for spec in specs.values()):
            raise ConfigurationError(
                f"map {self.map_name!r} has SQLite shards: postgres_fdw reaches PostgreSQL shards only; use "
                "`datastrata shards scatter` for them",
                field="map",
            )
        self._create_database()
        columns = self._columns(specs[current.shards[0]].store, table)
        for shard in current.shards:  # each shard shows its rows with its name: the partition key
            self._shard_view(specs[shard].store, table, shard)
        with self._connect() as conn, conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgres_fdw")
            conn.execute(_RECORD)
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('datastrata_coordinator'))")
            row = conn.execute("SELECT epoch FROM datastrata_coordinator WHERE table_name = %s", (table,)).fetchone()
            if row is not None and not refresh:
                return self._describe(table, int(row[0]), current.epoch)
            for shard in current.shards:
                self._foreign_server(conn, shard, specs[shard].store)
            conn.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE'.encode())
            conn.execute(f'CREATE TABLE "{table}" ({columns}, shard TEXT NOT NULL) PARTITION BY LIST (shard)'.encode())
            for shard in current.shards:
                conn.execute(
                    f'CREATE FOREIGN TABLE "{table}__{_ident(shard)}" PARTITION OF "{table}" FOR VALUES IN '
                    f"({_literal(shard)}) SERVER \"{_server_name(shard)}\" OPTIONS (schema_name 'public', "
                    f"table_name '{table}{VIEW_SUFFIX}')".encode()
                )
            conn.execute(
                "INSERT INTO datastrata_coordinator (table_name, map_name, epoch, built_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (table_name) DO UPDATE SET map_name = EXCLUDED.map_name, epoch = EXCLUDED.epoch, "
                "built_at = EXCLUDED.built_at",
                (table, self.map_name, current.epoch, datetime.now(UTC)),
            )
        return self._describe(table, current.epoch, current.epoch)

    # ---- querying ---------------------------------------------------------------------------------------------

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> tuple[list[str], list[Row]]:
        """Run one read-only statement on the coordinator; refused while a table was built from an older epoch."""
        text = check_read_sql(statement)
        current = self.maps.current(self.map_name)
        import psycopg

        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise NotFound(
                f"no coordinator for map {self.map_name!r} at {redact_url(self.url)} ({str(exc).splitlines()[0]}); "
                f"run `datastrata shards coordinator {self.map_name} --table TABLE`",
                field="map",
            ) from None
        with conn:
            try:
                built = conn.execute(
                    "SELECT table_name, epoch FROM datastrata_coordinator WHERE map_name = %s ORDER BY table_name",
                    (self.map_name,),
                ).fetchall()
            except psycopg.errors.UndefinedTable:
                built = []
            if not built:
                raise NotFound(
                    f"the coordinator of map {self.map_name!r} has no table yet; run `datastrata shards coordinator "
                    f"{self.map_name} --table TABLE`",
                    field="map",
                )
            stale = [(str(t), int(e)) for t, e in built if int(e) != current.epoch]
            if stale:
                table, epoch = stale[0]
                raise RuleViolation(
                    f"the coordinator's table {table!r} was built from epoch {epoch} of map {self.map_name!r}, which "
                    f"is at epoch {current.epoch} now; run `datastrata shards coordinator {self.map_name} --table "
                    f"{table} --refresh`",
                    field="map",
                )
            with conn.transaction():
                conn.execute("SET TRANSACTION READ ONLY")
                conn.execute("SET LOCAL enable_partitionwise_aggregate = on")
                conn.execute("SET LOCAL enable_async_append = on")
                cursor = conn.execute(text.encode()) if not params else conn.execute(text, params)
                names = [c.name for c in cursor.description or ()]
                rows = [tuple(r) for r in cursor.fetchall()] if cursor.description else []
            return names, rows

    # ---- helpers ----------------------------------------------------------------------------------------------

    def _describe(self, table: str, built: int, current: int) -> dict[str, Any]:
        return {
            "map": self.map_name,
            "table": table,
            "coordinator": redact_url(self.url),
            "built_from_epoch": built,
            "epoch": current,
            "fresh": built == current,
        }

    def _create_database(self) -> None:
        from datastrata.tenancy import provisioning as p

        admin = self.server or p.provision_url(self.settings, self.settings.store)
        with p.admin(admin, what=f"CREATE DATABASE {self.database}") as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{self.database}"'.encode())
            conn.execute(f'ALTER DATABASE "{self.database}" SET enable_partitionwise_aggregate = on'.encode())
            conn.execute(f'ALTER DATABASE "{self.database}" SET enable_async_append = on'.encode())

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection[Any]]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            yield conn

    def _columns(self, store: str, table: str) -> str:
        """The column list of `table` as a shard has it (``shard_slot`` required)."""
        import psycopg

        with psycopg.connect(store, autocommit=True, connect_timeout=10) as conn:
            rows = conn.execute(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_attribute a "
                "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
                "ORDER BY a.attnum",
                (table,),
            ).fetchall()
        if not rows:
            raise NotFound(f"no table {table!r} on the shards of map {self.map_name!r}", field="table")
        if "shard_slot" not in {r[0] for r in rows}:
            raise ValidationError(
                f"table {table!r} has no shard_slot column: a sharded table carries shard_key and shard_slot",
                field="table",
            )
        return ", ".join(f'"{name}" {kind}{" NOT NULL" if not_null else ""}' for name, kind, not_null in rows)

    def _shard_view(self, store: str, table: str, shard: str) -> None:
        """``<table>__coordinated`` on the shard: its rows with a ``shard`` column naming it (the partition key)."""
        import psycopg

        with psycopg.connect(store, autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                f'CREATE OR REPLACE VIEW "{table}{VIEW_SUFFIX}" AS SELECT *, {_literal(shard)}::text AS shard '
                f'FROM "{table}"'.encode()
            )

    def _foreign_server(self, conn: psycopg.Connection[Any], shard: str, store: str) -> None:
        """The foreign server and user mapping of one shard (made once: a shard's store never changes)."""
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(store)
        server = _server_name(shard)
        options = {"host": str(info.get("host") or "localhost"), "port": str(info.get("port") or 5432)}
        options["dbname"] = str(info.get("dbname") or "")
        options |= {"async_capable": "true", "fetch_size": "10000"}
        listed = ", ".join(f"{k} {_literal(v)}" for k, v in options.items())
        conn.execute(
            f'CREATE SERVER IF NOT EXISTS "{server}" FOREIGN DATA WRAPPER postgres_fdw OPTIONS ({listed})'.encode()
        )
        mapping = {"user": str(info.get("user") or "postgres")}
        if info.get("password"):
            mapping["password"] = str(info["password"])
        mapped = ", ".join(f"{k} {_literal(v)}" for k, v in mapping.items())
        conn.execute(
            f'CREATE USER MAPPING IF NOT EXISTS FOR CURRENT_USER SERVER "{server}" OPTIONS ({mapped})'.encode()
        )


def _server_name(shard: str) -> str:
    return f"shard_{_ident(shard)}"


def _ident(name: str) -> str:
    return name.replace("-", "_").replace(".", "_")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
