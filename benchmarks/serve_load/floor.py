"""The floor of benchmarks/serve_load.py: a minimal FastAPI endpoint doing one raw INSERT and COMMIT per request.

Served exactly as ``datastrata serve`` serves the app (``uvicorn.run(app, host=..., port=..., log_level="info")``:
one process, the same event loop and HTTP parser, sync routes on anyio's threadpool). Each request thread keeps
its own SQLite connection in WAL mode at ``synchronous=FULL`` (the store's default), so every request waits for
its own WAL flush: no shared commits.

Usage: ``python benchmarks/serve_load/floor.py --db PATH --port PORT [--host 127.0.0.1]``
"""

from __future__ import annotations

import argparse
import sqlite3
import threading

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field

_local = threading.local()


class RowIn(BaseModel):
    """The row to insert: an id (the request's unique id) and a small payload."""

    id: str = Field(min_length=1, max_length=100)
    amount: str = Field(max_length=32)


def _connection(path: str) -> sqlite3.Connection:
    conn: sqlite3.Connection | None = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        _local.conn = conn
    return conn


def floor_app(path: str) -> FastAPI:
    """Return the floor app writing into the SQLite file at `path`."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS floor_rows (id TEXT PRIMARY KEY, amount TEXT NOT NULL)")
    app = FastAPI(title="serve_load floor", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/floor", status_code=201)
    def insert(body: RowIn) -> dict[str, str]:
        conn = _connection(path)
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT INTO floor_rows (id, amount) VALUES (?, ?)", (body.id, body.amount))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return {"id": body.id}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="SQLite file to insert into")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(floor_app(args.db), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
