"""Fixtures for the match system: a runtime per backend, registered squads, a match in progress."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.systems.match.service import MatchService

MATCH = "WC-FINAL"
LINEUP = list(range(1, 12))
NAMES = {
    "ARG": [
        "Martínez",
        "Molina",
        "Tagliafico",
        "Romero",
        "Otamendi",
        "Fernández",
        "De Paul",
        "Mac Allister",
        "Álvarez",
        "Messi",
        "Di María",
        "Dybala",
        "Paredes",
        "Acuña",
        "Lautaro",
        "Montiel",
        "Pezzella",
    ],
    "FRA": [
        "Lloris",
        "Koundé",
        "Hernández",
        "Varane",
        "Upamecano",
        "Tchouaméni",
        "Griezmann",
        "Rabiot",
        "Giroud",
        "Mbappé",
        "Dembélé",
        "Kolo Muani",
        "Thuram",
        "Coman",
        "Camavinga",
        "Fofana",
        "Konaté",
    ],
}


@pytest.fixture
def runtime(store_url: str) -> Iterator[Runtime]:
    """A runtime on each backend."""
    with Runtime.open(Settings(store=store_url)) as opened:
        yield opened


@pytest.fixture
def svc(runtime: Runtime) -> MatchService:
    """The match service with two squads of 17, one referee and three fouls registered."""
    service = MatchService(runtime)
    register(service)
    return service


@pytest.fixture
def live(svc: MatchService) -> MatchService:
    """The service with match WC-FINAL (ARG v FRA, numbers 1-11 each) kicked off."""
    svc.start(MATCH, "ARG", "FRA", "MARCINIAK", LINEUP, LINEUP)
    return svc


def register(svc: MatchService) -> None:
    """Register the reference data every test uses."""
    svc.register_team("ARG", "Argentina")
    svc.register_team("FRA", "France")
    for team, names in NAMES.items():
        for number, name in enumerate(names, start=1):
            svc.register_player(team, number, name)
    svc.register_referee("MARCINIAK", "Szymon Marciniak")
    svc.register_referee("TAYLOR", "Anthony Taylor")
    svc.register_foul("UNSPORTING", "Unsporting behaviour")
    svc.register_foul("RECKLESS", "Reckless tackle")
    svc.register_foul("VIOLENT", "Violent conduct")
