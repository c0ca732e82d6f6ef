"""Monthly cost of each chosen technology on AWS and self-hosted, from the price table."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from datastrata.design.choices import Load, TechnologyChoice
from datastrata.design.prices import Entry, PriceTable, Tier
from datastrata.design.units import format_volume

_SECONDS_PER_HOUR = 3600
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Estimate:
    """One side's monthly cost and the configuration it assumes."""

    usd_per_month: Decimal
    configuration: str


@dataclass(frozen=True, slots=True)
class TechnologyCost:
    """The AWS and self-hosted estimates for one technology."""

    aws: Estimate
    self_hosted: Estimate


def budget_tier(budget: Decimal | None) -> Tier:
    """The article's budget ranges: < $1000 basic, $1000-5000 standard, > $5000 enterprise (standard if none)."""
    if budget is None:
        return "standard"
    if budget < 1000:
        return "basic"
    if budget <= 5000:
        return "standard"
    return "enterprise"


def estimate(tech: TechnologyChoice, prices: PriceTable, tier: Tier, availability: str) -> TechnologyCost:
    """Both estimates for one technology."""
    key = tech.offering.price
    return TechnologyCost(
        aws=_estimate(prices.aws[key], tech.load, prices, tier, availability),
        self_hosted=_estimate(prices.self_hosted[key], tech.load, prices, tier, availability),
    )


def _estimate(entry: Entry, load: Load, prices: PriceTable, tier: Tier, availability: str) -> Estimate:
    avail = prices.availability[availability]  # type: ignore[index]
    regions = Decimal(avail.regions)
    hours = prices.hours_per_month
    seconds = hours * _SECONDS_PER_HOUR * prices.average_to_peak
    where = f", {avail.regions} regions" if avail.regions > 1 else ""
    if entry.model == "instances":
        return _instances(entry, load, prices, tier, avail.standby, regions, where)
    if entry.model == "capacity":
        write_units = _ceil(load.writes_per_s * prices.item_kb * prices.average_to_peak)
        read_units = _ceil(
            load.reads_per_s * (Decimal(1) if load.strong_reads else Decimal("0.5")) * prices.average_to_peak
        )
        usd = (write_units * entry.write_unit_usd_per_hour + read_units * entry.read_unit_usd_per_hour) * hours
        usd = (usd + load.storage_gb * entry.storage_usd_per_gb_month) * regions
        return Estimate(
            _money(usd), f"auto-scaled ~{write_units} WCU / {read_units} RCU, {_gb(load.storage_gb)} stored{where}"
        )
    if entry.model == "time-series":
        writes = load.writes_per_s * seconds / 1_000_000
        units = max(entry.min_query_units, int(_ceil(load.reads_per_s / entry.queries_per_s_per_unit)))
        usd = writes * entry.writes_usd_per_million
        usd += load.storage_gb * entry.memory_usd_per_gb_hour * hours
        usd += Decimal(units) * entry.query_unit_usd_per_hour * hours
        return Estimate(
            _money(usd * regions),
            f"{_int(writes)} M writes/month, {_gb(load.storage_gb)} in memory, {units} query units{where}",
        )
    if entry.model == "storage":
        puts = load.writes_per_s * seconds / 1000
        usd = (load.storage_gb * entry.storage_usd_per_gb_month + puts * entry.put_usd_per_thousand) * regions
        return Estimate(_money(usd), f"{_gb(load.storage_gb)} stored{where}")
    if entry.model == "scan":
        per_month = load.queries_per_day * Decimal(30)
        terabytes = per_month * entry.gb_scanned_per_query / 1000
        return Estimate(
            _money(terabytes * entry.usd_per_tb_scanned),
            f"{_int(per_month)} queries/month x {entry.gb_scanned_per_query} GB scanned",
        )
    if entry.model == "stream":
        shards = max(1, int(_ceil(load.writes_per_s / entry.records_per_s_per_shard)))
        records = load.writes_per_s * seconds / 1_000_000
        usd = (Decimal(shards) * entry.shard_usd_per_hour * hours + records * entry.put_usd_per_million) * regions
        return Estimate(_money(usd), f"{shards} shards, {_int(records)} M records/month{where}")
    requests = load.writes_per_s * seconds * entry.requests_per_message / 1_000_000
    return Estimate(
        _money(requests * entry.usd_per_million_requests * regions), f"{_int(requests)} M requests/month{where}"
    )


def _instances(
    entry: Entry, load: Load, prices: PriceTable, tier: Tier, standby: bool, regions: Decimal, where: str
) -> Estimate:
    assert entry.instances is not None
    node = entry.instances[tier]
    if load.shares_primary:
        storage = load.storage_gb * entry.storage_usd_per_gb_month * regions
        return Estimate(_money(storage), f"inside the primary database, {_gb(load.storage_gb)} more storage")
    shards = 1
    if node.storage_gb is not None:
        shards = max(shards, int(_ceil(load.storage_gb / node.storage_gb)))
    if node.writes_per_s is not None:
        shards = max(shards, int(_ceil(load.writes_per_s / node.writes_per_s)))
    replicas = prices.read_replicas_by_tier[tier] if load.read_replicas < 0 else load.read_replicas
    if node.reads_per_s is not None and load.reads_per_s > 0:
        per_shard_reads = load.reads_per_s / shards
        replicas = max(replicas, int(_ceil(per_shard_reads / node.reads_per_s)) - 1)
    per_shard = max(entry.min_nodes, 1 + replicas + (entry.standby_nodes if standby else 0))
    nodes = shards * per_shard * int(regions)
    compute = Decimal(nodes) * node.usd_per_hour * prices.hours_per_month
    copies = per_shard if entry.storage_per_node else (entry.storage_copies_with_standby if standby else 1)
    storage = load.storage_gb * entry.storage_usd_per_gb_month * copies * regions
    average = prices.average_to_peak
    io = (load.reads_per_s + load.writes_per_s) * average * prices.hours_per_month * _SECONDS_PER_HOUR / 1_000_000
    usd = compute + storage + io * entry.io_usd_per_million * regions
    layout = f"{shards} shards x {per_shard}" if shards > 1 else f"{per_shard}"
    extras = []
    if replicas:
        extras.append(f"{replicas} read replica{'s' if replicas > 1 else ''}")
    if standby and entry.standby_nodes:
        extras.append("Multi-AZ standby")
    detail = f" ({', '.join(extras)})" if extras else ""
    return Estimate(_money(usd), f"{layout} x {node.type}{detail}, {_gb(load.storage_gb)}{where}")


def _ceil(value: Decimal) -> Decimal:
    return Decimal(math.ceil(value)) if value > 0 else Decimal(0)


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _gb(value: Decimal) -> str:
    return format_volume(value)


def _int(value: Decimal) -> str:
    return f"{value.quantize(Decimal(1), rounding=ROUND_HALF_UP):,}"
