"""Fraud rings: people sharing devices, and money that travels in a cycle back to (or near) its source."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

from datastrata.graph.algorithms import Subgraph, components, cycles
from datastrata.graph.schema import GraphSchema, NodeTable, RelTable
from datastrata.graph.store import GraphStore

FRAUD_SCHEMA = GraphSchema(
    nodes=(
        NodeTable("Person", (("name", "STRING"),)),
        NodeTable("BankAccount"),
        NodeTable("Device"),
    ),
    rels=(
        RelTable("HAS_ACCOUNT", "Person", "BankAccount"),
        RelTable("USES_DEVICE", "Person", "Device"),
        RelTable("SENT_TO", "BankAccount", "BankAccount", (("amount", "DECIMAL(12,2)"),)),
    ),
)


@dataclass(frozen=True, slots=True)
class DeviceRing:
    """People linked through shared devices, with the devices and the accounts they hold."""

    people: tuple[str, ...]
    devices: tuple[str, ...]
    accounts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MoneyLoop:
    """Transfers that lead from an account back to it or to an account near it (same owner or shared device)."""

    accounts: tuple[str, ...]
    returns_to: str
    closed: bool
    smallest_transfer: Decimal


def open_fraud(url: str | Path) -> GraphStore:
    """Open (creating if missing) a fraud graph (Person, BankAccount, Device)."""
    return GraphStore.open(url, FRAUD_SCHEMA)


def shared_device_rings(store: GraphStore, *, min_people: int = 2) -> list[DeviceRing]:
    """Groups of people who log in from the same devices (transitively), largest first."""
    rows = store.rows(
        "MATCH (p:Person)-[:USES_DEVICE]->(d:Device)<-[:USES_DEVICE]-(q:Person) "
        "WHERE p.id < q.id RETURN p.id, q.id, d.id"
    )
    sub = Subgraph(directed=False)
    devices: dict[str, set[str]] = {}
    for p, q, d in rows:
        sub.add_edge(str(p), str(q))
        devices.setdefault(str(p), set()).add(str(d))
        devices.setdefault(str(q), set()).add(str(d))
    rings = []
    for group in components(sub):
        people = [str(k) for k in group]
        if len(people) < min_people:
            continue
        accounts = store.rows(
            "MATCH (p:Person)-[:HAS_ACCOUNT]->(a:BankAccount) WHERE p.id IN $people RETURN DISTINCT a.id",
            {"people": people},
        )
        shared = {d for p in people for d in devices.get(p, ())}
        rings.append(DeviceRing(tuple(people), tuple(sorted(shared)), tuple(sorted(str(a) for (a,) in accounts))))
    return rings


def money_cycles(store: GraphStore, *, max_hops: int = 6) -> list[MoneyLoop]:
    """Transfer cycles A→…→A of at most `max_hops` transfers, shortest first."""
    amounts = _transfers(store)
    sub = Subgraph.from_edges(amounts)
    loops = []
    for cycle in cycles(sub, max_length=max_hops):
        keys = [str(k) for k in cycle]
        hops = list(zip(keys, [*keys[1:], keys[0]], strict=True))
        loops.append(MoneyLoop(tuple(keys), keys[0], True, min(amounts[h] for h in hops)))
    return loops


def round_trips(store: GraphStore, *, max_hops: int = 4) -> list[MoneyLoop]:
    """Transfer paths that end at a different account near the source: same owner, or owners sharing a device."""
    amounts = _transfers(store)
    near = _near_accounts(store)
    out: dict[str, list[str]] = {}
    for a, b in amounts:
        out.setdefault(a, []).append(b)
    loops = []
    for source in sorted(out):
        queue: deque[list[str]] = deque([[source]])
        while queue:
            path = queue.popleft()
            if len(path) > max_hops:
                continue
            for nxt in sorted(out.get(path[-1], ())):
                if nxt in path:
                    continue
                trail = [*path, nxt]
                if len(trail) > 2 and nxt in near.get(source, set()):
                    hops = list(pairwise(trail))
                    loops.append(MoneyLoop(tuple(trail), nxt, False, min(amounts[h] for h in hops)))
                queue.append(trail)
    return sorted(loops, key=lambda loop: (len(loop.accounts), loop.accounts))


def _transfers(store: GraphStore) -> dict[tuple[str, str], Decimal]:
    rows = store.rows("MATCH (a:BankAccount)-[t:SENT_TO]->(b:BankAccount) RETURN a.id, b.id, t.amount")
    return {(str(a), str(b)): Decimal(str(amount)) for a, b, amount in rows}


def _near_accounts(store: GraphStore) -> dict[str, set[str]]:
    """Map each account to the other accounts of its owner and of people sharing a device with its owner."""
    rows = store.rows(
        "MATCH (p:Person)-[:HAS_ACCOUNT]->(a:BankAccount), (q:Person)-[:HAS_ACCOUNT]->(b:BankAccount) "
        "WHERE a.id <> b.id AND (p.id = q.id OR EXISTS { MATCH (p)-[:USES_DEVICE]->(:Device)<-[:USES_DEVICE]-(q) }) "
        "RETURN a.id, b.id"
    )
    near: dict[str, set[str]] = {}
    for a, b in rows:
        near.setdefault(str(a), set()).add(str(b))
    return near
