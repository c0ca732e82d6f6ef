"""Shared kernel: events, clocks, ids, errors, codec and configuration (no I/O)."""
