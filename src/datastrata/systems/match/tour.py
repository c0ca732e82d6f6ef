"""Tour step: a short final recorded once by the referee, then read four ways."""

from __future__ import annotations

import json
from collections.abc import Callable

from datastrata.runtime import Runtime
from datastrata.systems.match.service import MatchService

MATCH = "WC2022-FINAL"
SQUADS = {
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
    ],
}


def tour_step(runtime: Runtime, say: Callable[[str], None]) -> None:
    """Register two squads, play a short final through the command side, then print the four views of it."""
    svc = MatchService(runtime)
    svc.register_team("ARG", "Argentina")
    svc.register_team("FRA", "France")
    for team, players in SQUADS.items():
        for number, name in enumerate(players, start=1):
            svc.register_player(team, number, name)
    svc.register_referee("MARCINIAK", "Szymon Marciniak")
    svc.register_foul("UNSPORTING", "Unsporting behaviour")
    svc.register_foul("RECKLESS", "Reckless tackle")
    lineup = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    svc.start(MATCH, "ARG", "FRA", "MARCINIAK", lineup, lineup)
    svc.goal(MATCH, "ARG-10", minute=23)
    svc.goal(MATCH, "ARG-11", minute=36)
    svc.yellow(MATCH, "ARG-10", minute=41, foul="UNSPORTING", referee="MARCINIAK")
    svc.substitute(MATCH, off="ARG-11", on="ARG-12", minute=64)
    svc.goal(MATCH, "FRA-10", minute=80)
    svc.goal(MATCH, "FRA-10", minute=81)
    svc.yellow(MATCH, "FRA-7", minute=87, foul="RECKLESS")
    token = svc.end(MATCH, minute=120).token
    say(f"The referee recorded the final once; the last command's consistency token is {token}.")
    say("TV live events (last ten, latest first, from the cache):")
    for line in svc.tv(MATCH, after=token)["events"]:
        say(f"  {line['minute']:>3}'  {line['text']}")
    say("News alerts with urgency >= 75:")
    for alert in svc.news(threshold=75, after=token)["alerts"]:
        say(f"  [{alert['urgency_score']}] {alert['headline']} — {alert['sub_headline']}")
    say("Social feed, trending:")
    for post in svc.social(trending=True, limit=4, after=token)["posts"]:
        say(f"  {post['text']} {' '.join(post['hashtags'])} (engagement {post['engagement_score']})")
    report = svc.analytics(MATCH, after=token)
    say("Analytics, top scorers and teams:")
    for player in report["players"][:3]:
        say(
            "  "
            + json.dumps(
                {k: player[k] for k in ("player_id", "name", "goals", "yellow_cards", "minutes_played")},
                ensure_ascii=False,
            )
        )
    for team in report["teams"]:
        say(f"  {team['team']} {team['name']}: {team['goals']} goals, {team['bookings']} bookings")
    svc.rebuild("all")
    same = svc.analytics(MATCH)["players"] == report["players"]
    say(f"Rebuilt all four read models from the log: analytics {'unchanged' if same else 'CHANGED'}.")
