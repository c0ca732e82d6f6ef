"""Simulated football: realistic, always-valid matches played through the command side, for demos and benchmarks."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from datastrata.core.validation import bounded_int
from datastrata.systems.match import domain

if TYPE_CHECKING:
    from datastrata.systems.match.service import MatchService

SQUAD_SIZE = 23
#: (code, name, surnames drawn on for the squad)
TEAMS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "ARG",
        "Argentina",
        (
            "Messi",
            "Di María",
            "Álvarez",
            "Fernández",
            "Otamendi",
            "Romero",
            "Martínez",
            "Paredes",
            "De Paul",
            "Molina",
            "Acuña",
            "Tagliafico",
            "Mac Allister",
            "Dybala",
        ),
    ),
    (
        "FRA",
        "France",
        (
            "Mbappé",
            "Griezmann",
            "Giroud",
            "Lloris",
            "Varane",
            "Upamecano",
            "Tchouaméni",
            "Rabiot",
            "Hernández",
            "Koundé",
            "Dembélé",
            "Camavinga",
            "Coman",
            "Thuram",
        ),
    ),
    (
        "BRA",
        "Brazil",
        (
            "Neymar",
            "Vinícius",
            "Alisson",
            "Casemiro",
            "Marquinhos",
            "Silva",
            "Paquetá",
            "Raphinha",
            "Richarlison",
            "Militão",
            "Danilo",
            "Fred",
            "Antony",
            "Rodrygo",
        ),
    ),
    (
        "GER",
        "Germany",
        (
            "Müller",
            "Neuer",
            "Kimmich",
            "Gündoğan",
            "Havertz",
            "Musiala",
            "Rüdiger",
            "Sané",
            "Gnabry",
            "Goretzka",
            "Süle",
            "Schlotterbeck",
            "Füllkrug",
            "Raum",
        ),
    ),
    (
        "ESP",
        "Spain",
        (
            "Pedri",
            "Gavi",
            "Busquets",
            "Morata",
            "Rodri",
            "Alba",
            "Carvajal",
            "Olmo",
            "Torres",
            "Asensio",
            "Laporte",
            "Simón",
            "Llorente",
            "Williams",
        ),
    ),
    (
        "ENG",
        "England",
        (
            "Kane",
            "Saka",
            "Bellingham",
            "Rice",
            "Stones",
            "Walker",
            "Pickford",
            "Foden",
            "Sterling",
            "Rashford",
            "Shaw",
            "Maguire",
            "Henderson",
            "Grealish",
        ),
    ),
    (
        "JPN",
        "Japan",
        (
            "Kamada",
            "Mitoma",
            "Endo",
            "Tomiyasu",
            "Doan",
            "Asano",
            "Minamino",
            "Ito",
            "Kubo",
            "Yoshida",
            "Gonda",
            "Morita",
            "Itakura",
            "Maeda",
        ),
    ),
    (
        "MAR",
        "Morocco",
        (
            "Ziyech",
            "Hakimi",
            "Bounou",
            "En-Nesyri",
            "Amrabat",
            "Boufal",
            "Saïss",
            "Mazraoui",
            "Ounahi",
            "Aguerd",
            "Amallah",
            "Aboukhlal",
            "Cheddira",
            "Attiat-Allah",
        ),
    ),
)
REFEREES = (
    ("MARCINIAK", "Szymon Marciniak"),
    ("ORSATO", "Daniele Orsato"),
    ("TAYLOR", "Anthony Taylor"),
    ("MATEU", "Antonio Mateu Lahoz"),
    ("TELLO", "Facundo Tello"),
)
FOULS = (
    ("UNSPORTING", "Unsporting behaviour"),
    ("RECKLESS", "Reckless tackle"),
    ("HOLDING", "Holding"),
    ("HANDBALL", "Deliberate handball"),
    ("DISSENT", "Dissent"),
    ("DELAY", "Delaying the restart"),
    ("SERIOUS", "Serious foul play"),
    ("VIOLENT", "Violent conduct"),
    ("DOGSO", "Denying an obvious goal-scoring opportunity"),
)
CAUTIONS = tuple(f for f, _ in FOULS[:6])
SENDINGS_OFF = tuple(f for f, _ in FOULS[6:])
_INITIALS = "ABCDEFGHJKLMNPRST"


def squad(code: str, surnames: tuple[str, ...]) -> list[tuple[int, str]]:
    """Return a deterministic 23-player squad: (number, name), numbers 1-23."""
    players = []
    for number in range(1, SQUAD_SIZE + 1):
        surname = surnames[(number - 1) % len(surnames)]
        initial = _INITIALS[(number * 7 + len(code)) % len(_INITIALS)]
        players.append((number, surname if number <= len(surnames) else f"{initial}. {surname}"))
    return players


@dataclass
class _Side:
    code: str
    on_pitch: list[int]
    bench: list[int]
    yellow: set[int] = field(default_factory=set)
    subs: int = 0


@dataclass(frozen=True, slots=True)
class Command:
    """One referee command in a simulated match."""

    kind: str
    args: dict[str, Any]


def plan_match(rng: random.Random, match_id: str) -> Iterator[Command]:
    """Yield the commands of one realistic match; each is valid given the ones before it."""
    home_team, away_team = rng.sample(TEAMS, 2)
    referee = rng.choice(REFEREES)[0]
    sides = []
    for code, _, _ in (home_team, away_team):
        numbers = list(range(1, SQUAD_SIZE + 1))
        starters = [1, *rng.sample(numbers[1:], 10)]
        sides.append(_Side(code, starters, [n for n in numbers if n not in starters]))
    yield Command(
        "start",
        {
            "match_id": match_id,
            "home": home_team[0],
            "away": away_team[0],
            "referee": referee,
            "home_lineup": sides[0].on_pitch.copy(),
            "away_lineup": sides[1].on_pitch.copy(),
        },
    )
    end = 90 + rng.randint(1, 8)
    moments = [("goal", rng.randint(1, end)) for _ in range(_poisson(rng, 2.6))]
    moments += [("yellow", rng.randint(5, end)) for _ in range(_poisson(rng, 3.8))]
    moments += [("red", rng.randint(10, end)) for _ in range(1 if rng.random() < 0.06 else 0)]
    moments += [("sub", rng.randint(46, 89)) for _ in range(rng.randint(6, 10))]
    for kind, minute in sorted(moments, key=lambda m: m[1]):
        side = rng.choice(sides)
        outfield = [n for n in side.on_pitch if n != 1] or side.on_pitch
        if kind == "sub":
            if side.subs >= domain.MAX_SUBSTITUTIONS or not side.bench:
                continue
            off, on = rng.choice(outfield), rng.choice(side.bench)
            side.on_pitch.remove(off)
            side.bench.remove(on)
            side.on_pitch.append(on)
            side.subs += 1
            yield Command("sub", {"off": f"{side.code}-{off}", "on": f"{side.code}-{on}", "minute": minute})
        elif kind == "goal":
            scorer = rng.choice(outfield)
            yield Command("goal", {"player": f"{side.code}-{scorer}", "minute": minute})
        else:
            player = rng.choice(outfield)
            sent_off = kind == "red" or player in side.yellow
            side.yellow.add(player)
            if sent_off:
                side.on_pitch.remove(player)
            foul = rng.choice(SENDINGS_OFF if kind == "red" else CAUTIONS)
            yield Command(kind, {"player": f"{side.code}-{player}", "minute": minute, "foul": foul})
    yield Command("end", {"minute": end})


def _poisson(rng: random.Random, mean: float) -> int:
    """Draw from a Poisson distribution (Knuth's method; small means only)."""
    limit, k, p = pow(2.718281828459045, -mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def ensure_reference_data(svc: MatchService) -> int:
    """Register the teams, squads, referees and fouls the simulation needs that are missing; return how many."""
    added = 0
    known = svc.reference_ids()
    for code, name, surnames in TEAMS:
        if code not in known["teams"]:
            svc.register_team(code, name)
            added += 1
        for number, player_name in squad(code, surnames):
            if f"{code}-{number}" not in known["players"]:
                svc.register_player(code, number, player_name)
                added += 1
    for referee_id, name in REFEREES:
        if referee_id not in known["referees"]:
            svc.register_referee(referee_id, name)
            added += 1
    for foul_id, description in FOULS:
        if foul_id not in known["fouls"]:
            svc.register_foul(foul_id, description)
            added += 1
    return added


#: Most matches one simulate call plays (a bulk bound: each match is ~100 commands).
MAX_MATCHES = 1000


def play(svc: MatchService, *, matches: int, seed: int) -> dict[str, Any]:
    """Play `matches` simulated matches through the command side; return what was recorded and the last token."""
    bounded_int(matches, field="matches", minimum=1, maximum=MAX_MATCHES)
    bounded_int(seed, field="seed", minimum=0)
    registered = ensure_reference_data(svc)
    rng = random.Random(seed)
    taken = svc.match_ids(prefix=f"SIM-{seed}-")
    counts: dict[str, int] = {}
    token = 0
    ids: list[str] = []
    number = 0
    for _ in range(matches):
        number += 1
        while f"SIM-{seed}-{number}" in taken:
            number += 1
        match_id = f"SIM-{seed}-{number}"
        ids.append(match_id)
        for command in plan_match(rng, match_id):
            token = run(svc, match_id, command)
            counts[command.kind] = counts.get(command.kind, 0) + 1
    return {"matches": ids, "commands": counts, "registered": registered, "token": token}


def run(svc: MatchService, match_id: str, command: Command) -> int:
    """Send one planned command to the service; return its consistency token."""
    a = command.args
    if command.kind == "start":
        return svc.start(**a).token
    if command.kind in ("yellow", "red"):
        book = svc.yellow if command.kind == "yellow" else svc.red
        return book(match_id, a["player"], minute=a["minute"], foul=a["foul"]).token
    if command.kind == "goal":
        return svc.goal(match_id, a["player"], minute=a["minute"]).token
    if command.kind == "sub":
        return svc.substitute(match_id, off=a["off"], on=a["on"], minute=a["minute"]).token
    return svc.end(match_id, minute=a["minute"]).token
