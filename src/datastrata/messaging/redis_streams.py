"""The Redis Streams bus: one stream per log, a consumer group per consumer, a consumer name per process.

Entry ids are log positions (``<position>-1``), so a republished event is never added twice, and a log's
positions never meet another log's in one stream: the stream of the log with identity ``L`` is
``datastrata:events:L``. Within a consumer group every process reads under its own consumer name (default
``<host>:<pid>``), so an entry goes to one process of the group; entries a dead process left pending are claimed
(``XAUTOCLAIM``) by another once they have been idle for ``claim_idle_ms``. What every group has acknowledged is
trimmed. Checkpoints and health name the bus by an id stored in Redis (``datastrata:bus:id``), never by its URL.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from datastrata.core import codec
from datastrata.core.errors import BackendUnavailable, ConfigurationError
from datastrata.core.events import Event, event_from_dict
from datastrata.core.redact import describe_error, redact_url
from datastrata.messaging.delivery import DeadLetters, Delivery
from datastrata.messaging.subscription import EventHandler, Subscription

log = logging.getLogger(__name__)

#: The stream of releases before one stream per log (moved once to the log's own stream, see `_move_legacy`).
LEGACY_KEY = "datastrata:events"
#: Where the legacy stream recorded the identity of the log it carried.
LEGACY_MARKER = "datastrata:events:log"
#: The bus's own id: made once per Redis database, it names the bus in checkpoints and health.
BUS_ID_KEY = "datastrata:bus:id"
#: How long an entry stays pending with a consumer before another process of its group may take it over.
CLAIM_IDLE_MS = 60_000
#: Bus options read from the URL's query (and removed before the URL reaches redis-py).
OPTIONS = ("claim_idle_ms",)

_MOVE = """
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
redis.call('RENAME', KEYS[1], KEYS[3])
redis.call('DEL', KEYS[2])
return 1
"""

# Atomic, so no group can move (or be created) between reading what the groups need and trimming.
_HOUSEKEEP = """
local function num_lt(a, b) if #a ~= #b then return #a < #b end return a < b end
local function id_lt(x, y)
  local xm, xs = string.match(x, '^(%d+)-(%d+)$')
  local ym, ys = string.match(y, '^(%d+)-(%d+)$')
  if xm ~= ym then return num_lt(xm, ym) end
  return num_lt(xs, ys)
end
local function field(flat, name)
  for i = 1, #flat, 2 do if flat[i] == name then return flat[i + 1] end end
  return nil
end
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 0 then return {0, 0} end
local forgotten, floor = 0, nil
for _, g in ipairs(groups) do
  local group = field(g, 'name')
  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], group)) do
    local name = field(c, 'name')
    if name ~= ARGV[2] and field(c, 'pending') == 0 and field(c, 'idle') >= tonumber(ARGV[1]) then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], group, name)
      forgotten = forgotten + 1
    end
  end
  local need = nil
  local summary = redis.call('XPENDING', KEYS[1], group)
  if summary[1] > 0 then need = summary[2] end
  local after = redis.call('XRANGE', KEYS[1], '(' .. field(g, 'last-delivered-id'), '+', 'COUNT', 1)
  if #after > 0 and (need == nil or id_lt(after[1][1], need)) then need = after[1][1] end
  if need ~= nil and (floor == nil or id_lt(need, floor)) then floor = need end
end
local trimmed
if floor == nil then
  trimmed = redis.call('XTRIM', KEYS[1], 'MAXLEN', 0)
else
  trimmed = redis.call('XTRIM', KEYS[1], 'MINID', floor)
end
return {trimmed, forgotten}
"""


@dataclass(frozen=True, slots=True)
class GroupBacklog:
    """Where one consumer group stands on the stream: what it has been delivered and what it has still to do."""

    group: str
    position: int
    head: int
    undelivered: int
    pending: int

    @property
    def behind(self) -> int:
        """Entries not yet acknowledged: not yet delivered, or delivered and still pending."""
        return self.undelivered + self.pending


def default_consumer_name() -> str:
    """This process's name within a consumer group: ``<host>:<pid>`` (``DATASTRATA_CONSUMER`` overrides it)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def split_options(url: str) -> tuple[str, dict[str, str]]:
    """Return `url` without the bus options of its query, and those options."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = {k: v for k, v in query if k in OPTIONS}
    rest = urlencode([(k, v) for k, v in query if k not in OPTIONS])
    return urlunsplit(parts._replace(query=rest)), options


def _millis(options: dict[str, str], name: str, default: int) -> int:
    raw = options.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit():
        raise ConfigurationError(f"bus URL option {name}={raw!r} is not a whole number of milliseconds; e.g. {default}")
    return int(raw)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisStreamsBus:
    """The stream of one log; each consumer a consumer group, each process a consumer of its own in it."""

    def __init__(
        self,
        url: str,
        dead_letters: DeadLetters,
        *,
        log_id: str,
        consumer_name: str | None = None,
        claim_idle_ms: int | None = None,
    ) -> None:
        try:
            import redis
        except ImportError as exc:  # pragma: no cover - depends on installed extras
            raise BackendUnavailable("the Redis bus needs redis-py: pip install 'datastrata[redis]'") from exc
        plain, options = split_options(url)
        self.shown = redact_url(plain)
        self.log_id = log_id
        self.key = f"{LEGACY_KEY}:{log_id}"
        self.consumer_name = consumer_name or default_consumer_name()
        if claim_idle_ms is None:
            claim_idle_ms = _millis(options, "claim_idle_ms", CLAIM_IDLE_MS)
        self.claim_idle_ms = claim_idle_ms
        self.dead_letters = dead_letters
        self.subscriptions: dict[str, Subscription] = {}
        self._claim_from: dict[str, str] = {}
        self._errors: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError)
        self._response_error = redis.ResponseError
        self.client: Any = redis.Redis.from_url(plain)
        try:
            self.client.ping()
            self.id = self._bus_id()
            self._move_legacy()
        except redis.AuthenticationError as exc:
            self.client.close()
            raise BackendUnavailable(
                f"Redis at {self.shown} refused the credentials: {describe_error(exc)}; check the user and password"
            ) from exc
        except self._errors as exc:
            self.client.close()
            raise BackendUnavailable(
                f"cannot reach Redis at {self.shown}: {describe_error(exc)}; check the URL and that it runs"
            ) from exc
        except self._response_error as exc:
            self.client.close()
            raise BackendUnavailable(
                f"Redis at {self.shown} refused the bus's set-up: {describe_error(exc)}; the bus's user needs the "
                "string, stream and scripting commands (e.g. ACL +@read +@write +@stream +@scripting) on datastrata:*"
            ) from exc
        self._housekeep = self.client.register_script(_HOUSEKEEP)
        #: The bus's name in checkpoints, health and logs: its stored id, never the URL (which may change).
        self.name = f"redis:{self.id}"

    def _bus_id(self) -> str:
        """Return the id of this Redis database as a bus, making it on first use."""
        self.client.set(BUS_ID_KEY, uuid.uuid4().hex[:16], nx=True)
        return _text(self.client.get(BUS_ID_KEY))

    def _move_legacy(self) -> None:
        """Move the one stream of older releases to this log's stream once (groups and pending entries with it)."""
        moved = self.client.eval(_MOVE, 3, LEGACY_KEY, LEGACY_MARKER, self.key, self.log_id)
        if moved == 1:
            log.warning("moved the Redis stream %s to %s (one stream per log now)", LEGACY_KEY, self.key)
        elif moved == -1:
            log.warning(
                "Redis at %s holds an old stream %s of another log (or of unknown log); this store's events go to %s; "
                "delete it once no older release uses it: redis-cli DEL %s %s",
                self.shown, LEGACY_KEY, self.key, LEGACY_KEY, LEGACY_MARKER,
            )  # fmt: skip

    # ---- publishing ----------------------------------------------------------------------------------------

    def publish(self, events: Sequence[Event]) -> int:
        """XADD each event with id ``<position>-1``; ids at or below the stream's last id were published before."""
        if not events:
            return 0
        top = self._top_position()
        fresh = [e for e in events if e.position > top]
        if not fresh:
            return 0
        pipe = self.client.pipeline(transaction=False)
        for e in fresh:
            pipe.xadd(self.key, {"event": codec.encode(e.to_dict())}, id=f"{e.position}-1")
        try:
            results = pipe.execute(raise_on_error=False)
        except self._errors as exc:
            raise BackendUnavailable(f"Redis bus {self.name} failed while publishing: {describe_error(exc)}") from exc
        added = 0
        for result in results:
            if isinstance(result, self._response_error):
                if "equal or smaller" not in str(result):
                    raise BackendUnavailable(f"Redis bus {self.name} refused an event: {describe_error(result)}")
            else:
                added += 1
        return added

    def _top_position(self) -> int:
        """Return the position of the last entry ever added (0 for no stream): trimming does not lower it."""
        try:
            info = self.client.xinfo_stream(self.key)
        except self._response_error:
            return 0  # no such key
        except self._errors as exc:
            raise BackendUnavailable(f"Redis bus {self.name} failed while publishing: {describe_error(exc)}") from exc
        return int(_text(info["last-generated-id"]).split("-")[0])

    # ---- consuming -----------------------------------------------------------------------------------------

    def subscribe(
        self, consumer: str, handler: EventHandler, *, types: Collection[str] | None = None, attempts: int = 3
    ) -> None:
        """Create (if needed) the consumer group `consumer`, reading the stream from its start."""
        self._create_group(consumer)
        delivery = Delivery(consumer, handler, self.dead_letters, attempts=attempts)
        self.subscriptions[consumer] = Subscription(delivery, frozenset(types) if types is not None else None)

    def _create_group(self, group: str) -> None:
        try:
            self.client.xgroup_create(self.key, group, id="0", mkstream=True)
        except self._response_error as exc:
            if "BUSYGROUP" not in str(exc):
                raise BackendUnavailable(f"Redis refused consumer group {group!r}: {describe_error(exc)}") from exc
        except self._errors as exc:
            raise BackendUnavailable(f"cannot reach Redis bus {self.name}: {describe_error(exc)}") from exc

    def unsubscribe(self, consumer: str) -> None:
        """Stop reading for `consumer` here; its consumer group and pending entries stay for the next process."""
        self.subscriptions.pop(consumer, None)

    def poll(self, *, block_ms: int = 0, count: int = 500) -> int:
        """Take over what a dead consumer left pending, then this consumer's pending, then new entries; ack each.

        A poll that acknowledged anything then trims what every group has acknowledged.
        """
        delivered = acked = 0
        for group, sub in list(self.subscriptions.items()):
            try:
                n, a = self._handle(group, sub, self._claim(group, count))
                delivered, acked = delivered + n, acked + a
                for start in ("0", ">"):
                    block = block_ms if start == ">" and block_ms else None
                    reply = self.client.xreadgroup(
                        group, self.consumer_name, {self.key: start}, count=count, block=block
                    )
                    for _key, entries in reply or []:
                        n, a = self._handle(group, sub, entries)
                        delivered, acked = delivered + n, acked + a
            except self._response_error as exc:
                if "NOGROUP" not in str(exc):
                    raise BackendUnavailable(f"Redis bus {self.name} refused a read: {describe_error(exc)}") from exc
                self._create_group(group)  # the stream was reset (a restore): the group starts on the new one
            except self._errors as exc:
                raise BackendUnavailable(f"Redis bus {self.name} failed while reading: {describe_error(exc)}") from exc
        if acked:
            self.trim()
        return delivered

    def _handle(self, group: str, sub: Subscription, entries: Sequence[Any]) -> tuple[int, int]:
        """Deliver each entry the subscription wants and acknowledge every one; return (delivered, acknowledged)."""
        delivered = 0
        for entry_id, fields in entries:
            if fields:
                event = event_from_dict(codec.decode(fields[b"event"]))
                if sub.wants(event):
                    sub.delivery.deliver(event)
                    delivered += 1
            self.client.xack(self.key, group, entry_id)
        return delivered, len(entries)

    def _claim(self, group: str, count: int) -> list[Any]:
        """Take over entries idle for `claim_idle_ms` with another consumer of `group`; return them."""
        start = self._claim_from.get(group, "0-0")
        cursor, claimed, *_deleted = self.client.xautoclaim(
            self.key, group, self.consumer_name, self.claim_idle_ms, start_id=start, count=count
        )
        self._claim_from[group] = _text(cursor)  # 0-0: the next claim scans the pending list from its start
        if claimed:
            log.info("consumer %s of %s took over %d entries left pending", self.consumer_name, group, len(claimed))
        return list(claimed)

    def trim(self) -> int:
        """Trim the entries every group has acknowledged (and forget consumers idle with nothing pending)."""
        try:
            trimmed, _forgotten = self._housekeep(keys=[self.key], args=[self.claim_idle_ms, self.consumer_name])
        except self._errors as exc:
            raise BackendUnavailable(f"Redis bus {self.name} failed while trimming: {describe_error(exc)}") from exc
        return int(trimmed)

    def backlog(self) -> list[GroupBacklog]:
        """Return where each group subscribed here stands: its last delivered position and what it has yet to do."""
        rows: list[GroupBacklog] = []
        try:
            top = self._top_position()
            groups = {_text(g["name"]): g for g in self.client.xinfo_groups(self.key)} if top else {}
            for group in self.subscriptions:
                info = groups.get(group)
                if info is None:
                    rows.append(GroupBacklog(group, 0, top, 0, 0))
                    continue
                last = _text(info["last-delivered-id"])
                undelivered = info.get("lag")
                if undelivered is None:  # Redis cannot say (before 7.0, or after deletions): count what is left
                    undelivered = len(self.client.xrange(self.key, f"({last}", "+", count=10_000))
                position = int(last.split("-")[0])
                rows.append(GroupBacklog(group, position, top, int(undelivered), int(info["pending"])))
        except self._response_error:
            return rows  # the stream is gone (a restore): the next poll makes the groups again
        except self._errors as exc:
            raise BackendUnavailable(f"Redis bus {self.name} failed while measuring: {describe_error(exc)}") from exc
        return rows

    def delivery(self, consumer: str) -> Delivery | None:
        """Return the delivery of consumer group `consumer`, if it subscribed in this process."""
        sub = self.subscriptions.get(consumer)
        return sub.delivery if sub is not None else None

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()
