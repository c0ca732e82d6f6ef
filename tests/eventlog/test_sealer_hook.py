"""The payload sealer hook: personal fields are sealed in the appending transaction and opened on every read."""

from __future__ import annotations

import base64
from typing import Any

import msgspec

from datastrata.core.events import Event, NewEvent
from datastrata.eventlog.log import EventLog
from datastrata.stores.database import Database, Tx


class _Base64Names:
    """Seals the ``name`` field of ``UserRegistered`` as base64 (a reversible stand-in for encryption)."""

    def __init__(self) -> None:
        self.sealed_in: list[Tx] = []

    def seals(self, event_type: str) -> bool:
        return event_type == "UserRegistered"

    def seal(self, tx: Tx, tenant: str, event: NewEvent) -> dict[str, Any]:
        self.sealed_in.append(tx)
        return {**event.payload, "name": base64.b64encode(event.payload["name"].encode()).decode()}

    def open(self, events: list[Event]) -> list[Event]:
        return [
            msgspec.structs.replace(e, payload={**e.payload, "name": base64.b64decode(e.payload["name"]).decode()})
            if e.type == "UserRegistered"
            else e
            for e in events
        ]


def test_a_sealer_stores_sealed_fields_and_every_read_opens_them(db: Database) -> None:
    log = EventLog(db)
    log.sealer = sealer = _Base64Names()
    log.append(
        "user-u1", [NewEvent("UserRegistered", {"name": "Aiko", "city": "Osaka"}), NewEvent("Ordered", {"n": 1})]
    )
    assert len(sealer.sealed_in) == 1  # only the declared type is handed over
    with db.read() as tx:
        stored = tx.execute("SELECT payload FROM eventlog_events WHERE event_type = 'UserRegistered'").fetchone()
    assert "Aiko" not in str(stored[0]) and "Osaka" in str(stored[0])
    assert log.read("user-u1")[0].payload == {"name": "Aiko", "city": "Osaka"}
    assert log.read_page().events[0].payload["name"] == "Aiko"
    log.sealer = None
    assert log.read("user-u1")[0].payload["name"] != "Aiko"
