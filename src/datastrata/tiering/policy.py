"""A tiering policy as data: datasets with rules by age and lifecycle stage, and the queries it must keep answering.

:func:`parse_policy` validates a parsed YAML/JSON mapping into a :class:`Policy`; every problem is a
:class:`ValidationError` naming the field (``datasets.readings.rules[1].after``) and what to write instead. A
policy that would expire (or freeze) data a declared query still needs, or that deletes raw rows before the
aggregate replacing them exists, is refused here, before anything runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from datastrata.core.errors import ValidationError
from datastrata.core.validation import bounded_list, bounded_text
from datastrata.tiering.tiers import KIND_NAMES, TIER_NAMES, Kind, Tier, parse_age, show_age

#: The S3 storage classes a tier may be kept in (the cost model prices each).
STORAGE_CLASSES = ("STANDARD", "STANDARD_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE")
#: The storage class of each object tier unless the policy's ``classes`` says otherwise.
DEFAULT_CLASSES: Mapping[Tier, str] = {
    Tier.HOT: "STANDARD",
    Tier.WARM: "STANDARD_IA",
    Tier.COLD: "GLACIER_IR",
    Tier.FROZEN: "GLACIER",
}
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_MAX_RULES = 20
_MAX_DATASETS = 200


@dataclass(frozen=True, slots=True)
class Rule:
    """Move data of a dataset to `to` once it is `after` old (and, if `stages` is set, in one of those stages)."""

    index: int
    after: timedelta
    to: Tier
    stages: frozenset[str] | None = None

    def describe(self) -> str:
        """How a plan names the rule: ``rules[1]: after 30d → expired``."""
        stage = f" when stage is {'/'.join(sorted(self.stages))}" if self.stages else ""
        return f"rules[{self.index}]: after {show_age(self.after)}{stage} → {self.to.value}"

    def matches(self, stage: str | None) -> bool:
        """True when the rule applies to data in lifecycle `stage`."""
        return self.stages is None or stage in self.stages


@dataclass(frozen=True, slots=True)
class Dataset:
    """One kind of data the policy places: a time-stamped table (rows) or objects under a prefix."""

    name: str
    kind: Kind
    rules: tuple[Rule, ...]
    table: str = ""
    time_column: str = ""
    #: A second table in the same store that rows move to first (``to: warm``); empty: rows leave for cold.
    warm_table: str = ""
    prefix: str = ""
    online: Tier = Tier.HOT
    aggregates: str = ""
    ready_after: timedelta = timedelta(0)
    #: The Iceberg table (``namespace.name``) its cold parts are also registered in, or "" for none.
    iceberg: str = ""
    #: Segments: the stream-id prefix of the streams placed, the event types that end one (stage ``ended``), the
    #: event types its streams hold (None: any) and the snapshotter folding a stream before it leaves the log.
    streams: str = ""
    ended_by: frozenset[str] = frozenset()
    event_types: frozenset[str] | None = None
    snapshot: str = ""


@dataclass(frozen=True, slots=True)
class Query:
    """A query the policy must keep answering from online tiers: `dataset` data as old as `covers`."""

    name: str
    dataset: str
    covers: timedelta
    stages: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """A validated tiering policy."""

    name: str
    datasets: Mapping[str, Dataset]
    queries: tuple[Query, ...]
    classes: Mapping[Tier, str]

    def storage_class(self, tier: Tier) -> str:
        """The storage class objects of `tier` are kept in."""
        return self.classes[tier]


def parse_policy(data: object) -> Policy:
    """Validate a parsed policy mapping; raise ValidationError naming the first bad field and the fix."""
    root = _mapping(data, "policy", "a mapping with name, datasets and queries")
    _only(root, "policy", {"name", "datasets", "queries", "classes"})
    name = _name(root.get("name"), "name")
    raw_sets = _mapping(root.get("datasets"), "datasets", "a mapping of dataset name to its kind and rules")
    bounded_list(list(raw_sets), field="datasets", min_items=1, max_items=_MAX_DATASETS)
    datasets = {_name(key, f"datasets.{key}"): _dataset(str(key), value) for key, value in raw_sets.items()}
    queries = tuple(_query(i, q, datasets) for i, q in enumerate(_list(root.get("queries", []), "queries")))
    classes = _classes(root.get("classes", {}))
    policy = Policy(name, datasets, queries, classes)
    refuse_unsafe(policy)
    return policy


def refuse_unsafe(policy: Policy) -> None:
    """Refuse a policy whose rules would lose data a declared query or a missing aggregate still needs."""
    for ds in policy.datasets.values():
        where = f"datasets.{ds.name}"
        if ds.aggregates:
            source = policy.datasets.get(ds.aggregates)
            if source is None or source.kind is not Kind.ROWS or source is ds:
                raise ValidationError(
                    f"{where}.aggregates: {ds.aggregates!r} must name another rows dataset of this policy "
                    f"(known: {', '.join(sorted(policy.datasets))})",
                    field=f"{where}.aggregates",
                )
        for aggregate in (a for a in policy.datasets.values() if a.aggregates == ds.name):
            for rule in ds.rules:
                if rule.to is Tier.EXPIRED and rule.after <= aggregate.ready_after:
                    raise ValidationError(
                        f"{where}.rules[{rule.index}].after: raw data would be deleted after "
                        f"{show_age(rule.after)}, before the aggregate {aggregate.name!r} replacing it exists "
                        f"(ready_after {show_age(aggregate.ready_after)}); keep raw data longer than that",
                        field=f"{where}.rules[{rule.index}].after",
                    )
    tables: dict[str, str] = {}
    for ds in policy.datasets.values():
        if ds.iceberg and tables.setdefault(ds.iceberg, ds.name) != ds.name:
            raise ValidationError(
                f"datasets.{ds.name}.iceberg.table: {ds.iceberg!r} is already the table of dataset "
                f"{tables[ds.iceberg]!r}; give each dataset its own Iceberg table",
                field=f"datasets.{ds.name}.iceberg.table",
            )
    for i, query in enumerate(policy.queries):
        ds = policy.datasets[query.dataset]
        for rule in ds.rules:
            overlaps = rule.stages is None or query.stages is None or bool(rule.stages & query.stages)
            if overlaps and not rule.to.online and rule.after < query.covers:
                gone = "expires" if rule.to is Tier.EXPIRED else "freezes (a restore is needed before reading)"
                raise ValidationError(
                    f"datasets.{ds.name}.rules[{rule.index}]: {gone} data after {show_age(rule.after)}, but "
                    f"queries[{i}] ({query.name!r}) must keep answering {show_age(query.covers)} of it; make the "
                    f"rule's after at least {show_age(query.covers)} or shorten the query",
                    field=f"datasets.{ds.name}.rules[{rule.index}].after",
                )


def _dataset(name: str, data: object) -> Dataset:
    where = f"datasets.{name}"
    raw = _mapping(data, where, "a mapping with kind and rules")
    kind_text = raw.get("kind")
    if kind_text not in KIND_NAMES:
        raise ValidationError(
            f"{where}.kind must be one of {', '.join(KIND_NAMES)}; got {kind_text!r}", field=f"{where}.kind"
        )
    kind = Kind(kind_text)
    common = {"kind", "rules"}
    if kind is Kind.ROWS:
        _only(
            raw,
            where,
            common | {"table", "time_column", "online", "aggregates", "ready_after", "warm_table", "iceberg"},
        )
        online = _tier(raw.get("online", "hot"), f"{where}.online")
        if online not in (Tier.HOT, Tier.WARM):
            raise ValidationError(f"{where}.online must be hot or warm (the table's tier)", field=f"{where}.online")
        table = _identifier(raw.get("table"), f"{where}.table")
        warm_table = _warm_table(raw, where, table, online)
        aggregates = raw.get("aggregates", "")
        if aggregates:
            _name(aggregates, f"{where}.aggregates")
        ready_after = parse_age(raw["ready_after"], field=f"{where}.ready_after") if "ready_after" in raw else None
        if ready_after is not None and not aggregates:
            raise ValidationError(
                f"{where}.ready_after only applies to an aggregate; add aggregates: <raw dataset> or remove it",
                field=f"{where}.ready_after",
            )
        rules = _rules(raw.get("rules"), where, online, rows=not warm_table)
        return Dataset(
            name,
            kind,
            rules,
            table=table,
            time_column=_identifier(raw.get("time_column"), f"{where}.time_column"),
            warm_table=warm_table,
            online=online,
            aggregates=str(aggregates),
            ready_after=ready_after or timedelta(0),
            iceberg=_iceberg(raw["iceberg"], f"{where}.iceberg") if "iceberg" in raw else "",
        )
    if kind is Kind.SEGMENTS:
        return _segments(name, raw, where)
    _only(raw, where, common | {"prefix"})
    prefix = bounded_text(raw.get("prefix"), field=f"{where}.prefix", max_length=200)
    if not prefix.endswith("/") or prefix.startswith("/") or ".." in prefix.split("/"):
        raise ValidationError(
            f"{where}.prefix must be a relative folder ending in '/', such as models/; got {prefix!r}",
            field=f"{where}.prefix",
        )
    return Dataset(name, kind, _rules(raw.get("rules"), where, Tier.HOT, rows=False), prefix=prefix)


def _warm_table(raw: Mapping[str, Any], where: str, table: str, online: Tier) -> str:
    if "warm_table" not in raw:
        return ""
    warm = _identifier(raw.get("warm_table"), f"{where}.warm_table")
    if online is not Tier.HOT or warm == table:
        raise ValidationError(
            f"{where}.warm_table: a hot table's rows move to another table of the same store; name a table other "
            f"than {table!r} and keep online: hot",
            field=f"{where}.warm_table",
        )
    return warm


def _iceberg(data: object, where: str) -> str:
    raw = _mapping(data, where, "a mapping with table: namespace.name (such as fab.readings)")
    _only(raw, where, {"table"})
    table = raw.get("table")
    parts = table.split(".") if isinstance(table, str) else []
    if len(parts) != 2 or not all(_IDENTIFIER.match(p) for p in parts):
        raise ValidationError(
            f"{where}.table must be namespace.name of lowercase letters, digits and '_' (such as fab.readings); "
            f"got {table!r}",
            field=f"{where}.table",
        )
    return str(table)


#: The lifecycle stages of a stream: ``ended`` once its last event is one of the dataset's ``ended_by`` types.
SEGMENT_STAGES = ("ended", "open")


def _segments(name: str, raw: Mapping[str, Any], where: str) -> Dataset:
    _only(raw, where, {"kind", "rules", "streams", "ended_by", "event_types", "snapshot"})
    streams = bounded_text(raw.get("streams"), field=f"{where}.streams", max_length=200)
    ended_by = _types(raw.get("ended_by", []), f"{where}.ended_by")
    types = _types(raw["event_types"], f"{where}.event_types") if "event_types" in raw else None
    snapshot = _name(raw["snapshot"], f"{where}.snapshot") if "snapshot" in raw else ""
    rules = _rules(raw.get("rules"), where, Tier.HOT, rows=False)
    for rule in rules:
        at = f"{where}.rules[{rule.index}]"
        if rule.to is Tier.WARM:
            raise ValidationError(
                f"{at}.to: a closed stream leaves the log for cold, frozen or expired; got warm", field=f"{at}.to"
            )
        unknown = sorted((rule.stages or frozenset()) - set(SEGMENT_STAGES))
        if unknown:
            raise ValidationError(
                f"{at}.stage: a stream's stage is ended or open; got {unknown[0]!r}", field=f"{at}.stage"
            )
        if rule.stages and "ended" in rule.stages and not ended_by:
            raise ValidationError(
                f"{at}.stage: 'ended' needs the event types that end a stream; add ended_by: [MatchEnded, ...]",
                field=f"{where}.ended_by",
            )
    return Dataset(name, Kind.SEGMENTS, rules, streams=streams, ended_by=ended_by, event_types=types, snapshot=snapshot)


def _types(data: object, field: str) -> frozenset[str]:
    values = bounded_list(_list(data, field), field=field, max_items=100)
    return frozenset(bounded_text(v, field=field, max_length=200) for v in values)


def _rules(data: object, where: str, start: Tier, *, rows: bool) -> tuple[Rule, ...]:
    items = bounded_list(_list(data, f"{where}.rules"), field=f"{where}.rules", min_items=1, max_items=_MAX_RULES)
    rules: list[Rule] = []
    for i, item in enumerate(items):
        at = f"{where}.rules[{i}]"
        raw = _mapping(item, at, "a mapping with after and to")
        _only(raw, at, {"after", "to", "stage"})
        if "after" not in raw:
            raise ValidationError(f"{at}.after is required: an age such as 30d", field=f"{at}.after")
        to = _tier(raw.get("to"), f"{at}.to")
        if to.rank <= start.rank:
            raise ValidationError(
                f"{at}.to: data here starts {start.value}; a rule moves it colder (one of "
                f"{', '.join(t for t in TIER_NAMES if Tier(t).rank > start.rank)}); got {to.value}",
                field=f"{at}.to",
            )
        if rows and to is Tier.WARM:
            raise ValidationError(
                f"{at}.to: rows leave their table for cold, frozen or expired; to move them to a warm table in the "
                "same store first declare warm_table: <table>, or declare online: warm for a table that is warm",
                field=f"{at}.to",
            )
        rules.append(Rule(i, parse_age(raw["after"], field=f"{at}.after"), to, _stages(raw.get("stage"), at)))
    for a in rules:
        for b in rules:
            both = a.stages is None or b.stages is None or bool(a.stages & b.stages)
            if both and a.after < b.after and b.to.rank < a.to.rank:
                raise ValidationError(
                    f"{where}.rules[{b.index}].to: moves data back to {b.to.value} after {show_age(b.after)}, "
                    f"but rules[{a.index}] already moved it to {a.to.value} after {show_age(a.after)}; data only "
                    "moves colder with age",
                    field=f"{where}.rules[{b.index}].to",
                )
    return tuple(rules)


def _query(index: int, data: object, datasets: Mapping[str, Dataset]) -> Query:
    at = f"queries[{index}]"
    raw = _mapping(data, at, "a mapping with name, dataset and covers")
    _only(raw, at, {"name", "dataset", "covers", "stage"})
    name = bounded_text(raw.get("name"), field=f"{at}.name", max_length=200)
    dataset = raw.get("dataset")
    if dataset not in datasets:
        raise ValidationError(
            f"{at}.dataset must name a dataset of this policy ({', '.join(sorted(datasets))}); got {dataset!r}",
            field=f"{at}.dataset",
        )
    if "covers" not in raw:
        raise ValidationError(f"{at}.covers is required: how far back the query reads, e.g. 30d", field=f"{at}.covers")
    return Query(name, str(dataset), parse_age(raw["covers"], field=f"{at}.covers"), _stages(raw.get("stage"), at))


def _classes(data: object) -> Mapping[Tier, str]:
    raw = _mapping(data, "classes", "a mapping of tier (hot, warm, cold, frozen) to storage class")
    classes = dict(DEFAULT_CLASSES)
    for key, value in raw.items():
        field = f"classes.{key}"
        if key not in ("hot", "warm", "cold", "frozen"):
            raise ValidationError(f"{field}: only hot, warm, cold and frozen have a storage class", field=field)
        if value not in STORAGE_CLASSES:
            raise ValidationError(f"{field} must be one of {', '.join(STORAGE_CLASSES)}; got {value!r}", field=field)
        classes[Tier(key)] = str(value)
    if classes[Tier.FROZEN] not in ("GLACIER", "DEEP_ARCHIVE"):
        raise ValidationError(
            "classes.frozen must be an archive class: GLACIER or DEEP_ARCHIVE", field="classes.frozen"
        )
    return classes


def _stages(data: object, at: str) -> frozenset[str] | None:
    if data is None:
        return None
    values = [data] if isinstance(data, str) else _list(data, f"{at}.stage")
    bounded_list(values, field=f"{at}.stage", min_items=1, max_items=20)
    return frozenset(bounded_text(v, field=f"{at}.stage", max_length=100) for v in values)


def _tier(value: object, field: str) -> Tier:
    if value not in TIER_NAMES:
        raise ValidationError(f"{field} must be one of {', '.join(TIER_NAMES)}; got {value!r}", field=field)
    return Tier(value)


def _name(value: object, field: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValidationError(
            f"{field} must be a name of 1-63 lowercase letters, digits, '-' or '_', starting with a letter; "
            f"got {value!r}",
            field=field,
        )
    return value


def _identifier(value: object, field: str) -> str:
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        raise ValidationError(
            f"{field} must be a SQL name of lowercase letters, digits and '_' (such as readings); got {value!r}",
            field=field,
        )
    return value


def _mapping(value: object, field: str, expected: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(f"{field} must be {expected}; got {type(value).__name__}", field=field)
    return value


def _list(value: object, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValidationError(f"{field} must be a list; got {type(value).__name__}", field=field)
    return value


def _only(raw: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        field = f"{where}.{unknown[0]}" if where != "policy" else unknown[0]
        raise ValidationError(f"{field}: unknown field; allowed fields are {', '.join(sorted(allowed))}", field=field)


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy from a YAML or JSON file."""
    origin = Path(path)
    try:
        text = origin.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(f"policy file {str(origin)!r} does not exist; check the path", field="policy") from None
    except OSError as exc:
        raise ValidationError(f"policy file {str(origin)!r} cannot be read: {exc.strerror}", field="policy") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ValidationError(f"{origin}: not valid YAML or JSON{where}", field="policy") from None
    return parse_policy(data)
