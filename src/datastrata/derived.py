"""Derived stores (read models, the graph, cached reads, the bus's copy of the log) rebuilt after a restore."""

from __future__ import annotations

from collections.abc import Callable

from datastrata.catalog import install_all
from datastrata.core.errors import BackendUnavailable
from datastrata.core.redact import redact
from datastrata.messaging.bus import RedisStreamsBus
from datastrata.runtime import Runtime
from datastrata.stores.cache import Cache, RedisCache

Say = Callable[[str], None]


def rebuild_derived(runtime: Runtime, say: Say) -> dict[str, int]:
    """Reset the bus's copy, rebuild every follower from position 0 and drop cached reads; return events applied.

    Each rebuilt store records the restored log's new identity; the relay keeps its place under it.
    """
    forget_bus_copy(runtime, say)  # before the systems subscribe: their consumer groups start on the new stream
    follow_new_identity(runtime, say)
    install_all(runtime)
    runtime.open_followers()  # deferred followers too: the graph is derived from the restored log as well
    applied: dict[str, int] = {}
    for name, runner in runtime.runners.items():
        say(f"rebuilding {name} from the log …")
        try:
            applied[name] = runner.rebuild()
        except Exception as exc:
            raise BackendUnavailable(
                f"the store is restored, but rebuilding {name} failed: {redact(str(exc))}; fix that and run "
                f"`datastrata rebuild {name}`"
            ) from exc
        say(f"rebuilt {name}: applied {applied[name]} events, now at position {runner.position()}")
    if runtime.cache.shared:
        dropped = forget_cached(runtime.cache)
        say(f"dropped {dropped} cached entries from {redact(runtime.cache.name)}")
    return applied


def follow_new_identity(runtime: Runtime, say: Say) -> None:
    """Re-stamp the relay's checkpoints with the restored log's identity, keeping their positions.

    The relay's place is part of the backup (what it published up to then), so it carries on from there; only a
    Redis bus's copy is emptied and republished from the start (:func:`forget_bus_copy`).
    """
    relay = runtime.relay
    with runtime.db.transaction() as tx:
        for name, position in tx.query("SELECT name, position FROM projection_checkpoints WHERE name LIKE 'relay%'"):
            relay.checkpoints.set_in(tx, str(name), int(position), None, runtime.log.identity)
    say(f"the relay follows the restored log {runtime.log.identity}")


def forget_bus_copy(runtime: Runtime, say: Say) -> None:
    """Empty a Redis bus's stream and republish the log from the start (consumers skip, by inbox, what they had).

    The stream's entry ids are log positions; after a restore the log hands out positions again that the stream
    already holds, and the bus would drop those new events as repeats.
    """
    bus = runtime.bus
    if not isinstance(bus, RedisStreamsBus):
        return
    bus.client.delete(bus.key)
    with runtime.db.transaction() as tx:
        runtime.relay.checkpoints.set_in(tx, runtime.relay.name, 0, None, runtime.log.identity)
    say(f"emptied the bus stream {bus.key} on {redact(bus.name)}; the relay republishes the log from the start")


def forget_cached(cache: Cache) -> int:
    """Delete every entry of a shared (Redis) cache: it may hold reads newer than the restored store."""
    if not isinstance(cache, RedisCache):
        return 0
    keys = list(cache.client.scan_iter(match=f"{cache.prefix}*", count=1000))
    for start in range(0, len(keys), 1000):
        cache.client.delete(*keys[start : start + 1000])
    return len(keys)
