"""Helpers for tests and benchmarks: throwaway PostgreSQL and Redis servers from local binaries."""
