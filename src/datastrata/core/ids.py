"""Identifiers: event ids are random UUIDs in canonical text form."""

from __future__ import annotations

import uuid


def new_id() -> str:
    """Return a new random identifier (UUID4, canonical text)."""
    return str(uuid.uuid4())
