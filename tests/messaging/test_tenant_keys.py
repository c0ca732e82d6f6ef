"""A consumer's inbox and dead letters keep two tenants' events of one id apart."""

from __future__ import annotations

from datastrata.core.events import NewEvent
from datastrata.eventlog import EventLog
from datastrata.messaging.delivery import DeadLetters
from datastrata.messaging.inbox import Inbox
from datastrata.stores.database import Database


def test_the_same_event_id_in_two_tenants_is_handled_and_parked_once_each(db: Database) -> None:
    log = EventLog(db)
    alpha = log.append("s", [NewEvent("Happened", {"n": 1}, event_id="e-1")], tenant="alpha").events[0]
    beta = log.append("s", [NewEvent("Happened", {"n": 2}, event_id="e-1")], tenant="beta").events[0]
    inbox = Inbox(db)
    with db.transaction() as tx:
        firsts = [inbox.first_time(tx, "mailer", "e-1", tenant=t) for t in ("alpha", "beta", "alpha")]
    assert firsts == [True, True, False]
    letters = DeadLetters(db)
    for event in (alpha, beta, alpha):
        letters.record("mailer", event, "boom", 1)
    parked = letters.list("mailer")
    assert [(x.tenant_id, x.event_id, x.attempts) for x in parked] == [("alpha", "e-1", 2), ("beta", "e-1", 1)]
    assert parked[1].to_dict()["tenant_id"] == "beta"
    assert log.get(parked[1].event_id, tenant=parked[1].tenant_id).payload == {"n": 2}
