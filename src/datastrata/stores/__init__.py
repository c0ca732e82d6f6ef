"""Thin adapters to real engines: SQLite, PostgreSQL, Redis, DuckDB, object storage and the graph store."""
