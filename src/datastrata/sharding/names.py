"""Shard names and shard lists: the checks every router shares."""

from __future__ import annotations

import re

from datastrata.core.errors import ValidationError

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
#: The most shards a router takes.
MAX_SHARDS = 4096


def check_shard(name: object, *, field: str = "shard") -> str:
    """Return `name` if it is a shard name: 1-63 of a-z, 0-9, '_', '.', '-', starting with a letter or digit."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            f"{field} must be 1-63 of a-z, 0-9, '_', '.' or '-', starting with a letter or digit; got {name!r}",
            field=field,
        )
    return name


def check_shards(shards: object, *, field: str = "shards") -> tuple[str, ...]:
    """Return `shards` as a tuple of distinct shard names (at least one, at most MAX_SHARDS)."""
    if not isinstance(shards, (list, tuple)):
        raise ValidationError(f"{field} must be a list of shard names, e.g. ['s0', 's1']", field=field)
    names = tuple(check_shard(name, field=field) for name in shards)
    if not names:
        raise ValidationError(f"{field} must name at least one shard, e.g. ['s0', 's1']", field=field)
    if len(names) > MAX_SHARDS:
        raise ValidationError(f"{field} must name at most {MAX_SHARDS} shards; got {len(names)}", field=field)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValidationError(f"{field} names shard {name!r} twice; give each shard once", field=field)
        seen.add(name)
    return names


def numbered(count: int, *, prefix: str = "s", taken: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """The first `count` names ``<prefix>0``, ``<prefix>1``… not in `taken`: the shards a map gets by default."""
    names: list[str] = []
    index = 0
    while len(names) < count:
        if f"{prefix}{index}" not in taken:
            names.append(f"{prefix}{index}")
        index += 1
    return names
