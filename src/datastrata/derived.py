"""Derived stores (read models, the graph, cached reads) rebuilt from the log, as after a restore."""

from __future__ import annotations

from collections.abc import Callable

from datastrata.catalog import install_all
from datastrata.core.redact import redact
from datastrata.platform import Platform
from datastrata.stores.cache import Cache, RedisCache

Say = Callable[[str], None]


def rebuild_derived(platform: Platform, say: Say) -> dict[str, int]:
    """Rebuild every follower of every system from position 0 and drop cached reads; return events applied each."""
    install_all(platform)
    applied: dict[str, int] = {}
    for name, runner in platform.runners.items():
        say(f"rebuilding {name} from the log …")
        applied[name] = runner.rebuild()
        say(f"rebuilt {name}: applied {applied[name]} events, now at position {runner.position()}")
    if platform.settings.cache != "memory://":
        dropped = forget_cached(platform.cache)
        say(f"dropped {dropped} cached entries from {redact(platform.cache.name)}")
    return applied


def forget_cached(cache: Cache) -> int:
    """Delete every entry of a shared (Redis) cache: it may hold reads newer than the restored store."""
    if not isinstance(cache, RedisCache):
        return 0
    keys = list(cache.client.scan_iter(match=f"{cache.prefix}*", count=1000))
    for start in range(0, len(keys), 1000):
        cache.client.delete(*keys[start : start + 1000])
    return len(keys)
