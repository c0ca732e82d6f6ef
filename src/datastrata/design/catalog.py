"""Technology families, the AWS service the article names for each, and an open-source equivalent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal[
    "relational",
    "key-value",
    "document",
    "wide-column",
    "in-memory",
    "graph",
    "time-series",
    "search",
    "columnar",
    "object-storage",
    "stream",
    "queue",
]


@dataclass(frozen=True, slots=True)
class Offering:
    """One concrete technology: its family, AWS service, open-source equivalent and price-table key."""

    family: Family
    aws: str
    open_source: str
    price: str


RELATIONAL = Offering("relational", "Amazon RDS for PostgreSQL", "PostgreSQL", "relational")
KEY_VALUE = Offering("key-value", "Amazon DynamoDB", "ScyllaDB (DynamoDB-compatible API)", "key-value")
DOCUMENT = Offering("document", "Amazon DocumentDB (MongoDB-compatible)", "MongoDB", "document")
WIDE_COLUMN = Offering("wide-column", "Amazon Keyspaces (for Apache Cassandra)", "Apache Cassandra", "wide-column")
CACHE = Offering("in-memory", "Amazon ElastiCache (Redis OSS)", "Redis", "in-memory")
DAX = Offering("in-memory", "DynamoDB Accelerator (DAX)", "Redis", "dax")
GEO_INDEX = Offering(
    "in-memory", "Amazon ElastiCache (Redis OSS) GEO commands", "Redis (GEOADD / GEOSEARCH)", "in-memory"
)
GRAPH = Offering("graph", "Amazon Neptune", "LadybugDB (Cypher; portable to Neo4j)", "graph")
TIME_SERIES_HOT = Offering(
    "time-series", "Amazon Timestream (memory store)", "TimescaleDB (PostgreSQL)", "time-series-memory"
)
TIME_SERIES_WARM = Offering(
    "time-series", "Amazon Timestream (magnetic store)", "TimescaleDB compressed chunks", "time-series-magnetic"
)
SEARCH = Offering("search", "Amazon OpenSearch Service", "OpenSearch", "search")
WAREHOUSE = Offering("columnar", "Amazon Redshift (+ Spectrum over S3)", "DuckDB over Parquet", "columnar-warehouse")
LAKE_QUERY = Offering(
    "columnar", "Amazon Athena over Parquet (AWS Glue catalog)", "DuckDB over Parquet", "columnar-serverless"
)
OBJECTS = Offering(
    "object-storage", "Amazon S3 Standard", "S3-compatible object store (MinIO) via pyarrow.fs", "object-standard"
)
OBJECTS_IA = Offering(
    "object-storage", "Amazon S3 Standard-IA", "S3-compatible object store (MinIO), HDD tier", "object-infrequent"
)
ARCHIVE = Offering(
    "object-storage",
    "Amazon S3 Glacier Deep Archive",
    "S3-compatible object store (MinIO), cold HDD tier",
    "object-archive",
)
STREAM = Offering("stream", "Amazon Kinesis Data Streams", "Apache Kafka (or Redis Streams)", "stream")
QUEUE = Offering("queue", "Amazon SQS FIFO (routed by EventBridge)", "Redis Streams consumer groups", "queue")

#: Offerings by price-table key, for validating a price table.
BY_PRICE_KEY: dict[str, Offering] = {
    offering.price: offering
    for offering in (
        RELATIONAL,
        KEY_VALUE,
        DOCUMENT,
        WIDE_COLUMN,
        CACHE,
        DAX,
        GRAPH,
        TIME_SERIES_HOT,
        TIME_SERIES_WARM,
        SEARCH,
        WAREHOUSE,
        LAKE_QUERY,
        OBJECTS,
        OBJECTS_IA,
        ARCHIVE,
        STREAM,
        QUEUE,
    )
}
