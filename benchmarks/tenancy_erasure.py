"""What sealing personal fields costs: appends and reads of personal events, sealed vs. the same events in the clear.

Each figure is a ratio against its floor measured in the same run on the same SQLite file settings: appends of
``UserRegistered`` events (one per transaction, each a new subject: its key is made and wrapped; then again for
known subjects: looked up) with the sealer on vs. off, and a read of the whole log (CPU time, best of several rounds)
vs. the same log unsealed, all personal and with one event in 20 personal (registrations among orders).
The all-personal read is also set against its floor: the clear read plus one bare AES-GCM open per event (a
cipher per subject, made beforehand, the sealed values of the envelope's size), the least any per-event encryption
can cost; ``read_opening_us`` is what the sealed read adds per event over the clear one, ``floor_opening_us`` the
bare open's share of it. A throwaway platform key is made when ``DATASTRATA_TENANT_SECRET_KEY`` is not set.

    .venv/bin/python benchmarks/tenancy_erasure.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from datastrata.core.events import NewEvent
from datastrata.eventlog.log import EventLog
from datastrata.stores.open import open_database
from datastrata.tenancy.sealing import SubjectSealer
from datastrata.tenancy.secrets import temporary_key


def _log(path: Path, *, sealed: bool) -> EventLog:
    db = open_database(f"sqlite:///{path}?synchronous=NORMAL")
    log = EventLog(db)
    log.sealer = SubjectSealer(db) if sealed else None
    return log


def _appends(log: EventLog, users: int, kind: str) -> float:
    started = time.perf_counter()
    for i in range(users):
        log.append(f"food-user-u{i}", [NewEvent(kind, {"user_id": f"u{i}", "lat": 35.0 + i / 1e6, "lon": 139.0})])
    return users / (time.perf_counter() - started)


def _mixed(log: EventLog, events: int) -> None:
    """Append `events` in pages of 100, one in 20 of them personal (a registration among orders)."""
    for start in range(0, events, 100):
        batch = [
            NewEvent("UserRegistered", {"user_id": f"m{i}", "lat": 35.0, "lon": 139.0})
            if i % 20 == 0
            else NewEvent("OrderPlaced", {"order_id": f"o{i}", "user_id": f"m{i - i % 20}", "total": "12.50"})
            for i in range(start, start + 100)
        ]
        log.append(f"mixed-{start}", batch)


def _reads(log: EventLog, rounds: int) -> float:
    """Events per CPU second of the best of `rounds` reads of the whole log (CPU time and the best round: the least
    disturbed by other work on a shared host; a read of a warm SQLite file is all CPU)."""
    best = 0.0
    for _ in range(rounds):
        count, after = 0, 0
        started = time.process_time()
        while True:
            page = log.read_page(after=after, limit=1000)
            if not page.events:
                break
            count += len(page.events)
            after = page.next_after
        best = max(best, count / (time.process_time() - started))
    return best


def _bare_opens(events: int, rounds: int) -> float:
    """CPU seconds per event of the bare AES-GCM opens of `events` sealed values, one key per subject (the floor),
    best of `rounds`."""
    nonce, aad = os.urandom(12), b"0f8e2b8a-3c41-4d1e-9a43-5b6c7d8e9f01"  # an event id
    ciphers = [AESGCM(AESGCM.generate_key(bit_length=256)) for _ in range(min(events, 10_000))]
    sealed = [(c, c.encrypt(nonce, b'{"lat":35.000001,"lon":139.0}', aad)) for c in ciphers]
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for cipher, data in sealed:
            cipher.decrypt(nonce, data, aad)
        best = min(best, (time.process_time() - started) / len(sealed))
    return best


def run(quick: bool) -> dict[str, object]:
    """Measure the sealing overhead; return the figures (events per second and ratios to the unsealed floor)."""
    users = 1_000 if quick else 10_000
    rounds = 3 if quick else 5
    with temporary_key(), tempfile.TemporaryDirectory() as folder:
        plain = _log(Path(folder) / "plain.db", sealed=False)
        sealed = _log(Path(folder) / "sealed.db", sealed=True)
        plain_new = _appends(plain, users, "UserRegistered")
        sealed_new = _appends(sealed, users, "UserRegistered")
        plain_known = _appends(plain, users, "UserUpdated")
        sealed_known = _appends(sealed, users, "UserUpdated")
        plain_read = _reads(plain, rounds)
        sealed_read = _reads(sealed, rounds)
        bare_open = _bare_opens(2 * users, rounds)
        floor_read = 1 / (1 / plain_read + bare_open)
        plain_mixed = _log(Path(folder) / "plain_mixed.db", sealed=False)
        sealed_mixed = _log(Path(folder) / "sealed_mixed.db", sealed=True)
        for log in (plain_mixed, sealed_mixed):
            _mixed(log, 10 * users)
        plain_mixed_read = _reads(plain_mixed, rounds)
        sealed_mixed_read = _reads(sealed_mixed, rounds)
        for log in (plain, sealed, plain_mixed, sealed_mixed):
            log.db.close()
    return {
        "events": 2 * users,
        "append_new_subject_per_s": {"sealed": round(sealed_new), "clear": round(plain_new)},
        "append_new_subject_ratio": round(sealed_new / plain_new, 3),
        "append_known_subject_per_s": {"sealed": round(sealed_known), "clear": round(plain_known)},
        "append_known_subject_ratio": round(sealed_known / plain_known, 3),
        "read_per_s": {"sealed": round(sealed_read), "clear": round(plain_read)},
        "read_ratio": round(sealed_read / plain_read, 3),
        "read_floor_per_s": round(floor_read),
        "read_floor_ratio": round(floor_read / plain_read, 3),
        "read_to_floor_ratio": round(sealed_read / floor_read, 3),
        "read_opening_us": round(1e6 * (1 / sealed_read - 1 / plain_read), 2),
        "floor_opening_us": round(1e6 * bare_open, 2),
        "read_one_in_20_personal_per_s": {"sealed": round(sealed_mixed_read), "clear": round(plain_mixed_read)},
        "read_one_in_20_personal_ratio": round(sealed_mixed_read / plain_mixed_read, 3),
    }


def main() -> None:
    """Run the benchmark and print its figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small sample (seconds)")
    print(json.dumps(run(parser.parse_args().quick), indent=2))


if __name__ == "__main__":
    main()
