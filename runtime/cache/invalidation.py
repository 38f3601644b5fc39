"""Cross-instance invalidation: a dependency graph in Redis, a pub/sub broadcast, and an epoch.

`invalidate(resources)` runs one Lua script that walks `resource -> dependents` edges transitively, unlinks
every reached value, bumps the epoch and publishes the keys, atomically. Each instance's listener drops the
keys from its L1. Pub/sub is fire-and-forget, so the listener proves its channel live instead of assuming:

- Reconcile on every subscription, the first included: once Redis has confirmed the SUBSCRIBE, the epoch in
  Redis is compared with the last one seen; a difference (or, on the first subscription, anything L1 took
  while there was no channel) drops the whole L1. The epoch carries a random id per Redis lifetime, so a
  restarted (emptied) Redis never looks unchanged.
- Detect silence: a PING goes out every `pubsub_ping_seconds` (P) and its reply is awaited; a reply
  missing for P means the connection is dead or half-open, and the listener reconnects.
- Confirm: the reply to a PING sent at time t proves every message published before t was applied, so
  the cache trusts L1 entries only until t + 2P (`CacheSettings.staleness_bound_seconds`). A healthy
  channel renews that every P; a faulty one stops renewing it and L1 is bypassed (see multilevel.py).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis

from runtime.cache import metrics
from runtime.cache.keys import RedisKeys
from runtime.cache.l2 import REDIS_FAILURES, RedisTier
from runtime.cache.record import Record
from runtime.cache.settings import CacheSettings
from runtime.tasks import stop

log = logging.getLogger(__name__)

# KEYS: epoch hash. ARGV: value prefix, deps prefix, channel, origin, fresh epoch id, max nodes, resources...
# The closure's keys are derived inside the script (fine on one Redis or a cluster-mode-disabled group).
_INVALIDATE = """
local value_prefix, deps_prefix, channel, origin = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local limit = tonumber(ARGV[6])
local seen, queue, out = {}, {}, {}
for i = 7, #ARGV do queue[#queue + 1] = ARGV[i] end
local head = 1
while head <= #queue and #out < limit do
  local node = queue[head]
  head = head + 1
  if not seen[node] then
    seen[node] = true
    out[#out + 1] = node
    for _, dep in ipairs(redis.call('SMEMBERS', deps_prefix .. node)) do
      if not seen[dep] then queue[#queue + 1] = dep end
    end
  end
end
for i = 1, #out, 500 do
  local chunk = {}
  for j = i, math.min(i + 499, #out) do chunk[#chunk + 1] = value_prefix .. out[j] end
  redis.call('UNLINK', unpack(chunk))
end
redis.call('HSETNX', KEYS[1], 'id', ARGV[5])
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local epoch = redis.call('HGET', KEYS[1], 'id') .. ':' .. n
redis.call('PUBLISH', channel, cjson.encode({origin = origin, epoch = epoch, keys = out}))
return {epoch, out}
"""

# A write and its broadcast in one round trip. KEYS: value key, epoch hash, dependency sets...
# ARGV: record bytes ('' with delete=1), px, edge ttl ms, key, channel, origin, fresh epoch id, delete flag,
# stamp (the record's expiry as a string: an instance whose L1 already holds this very record keeps it).
_WRITE_AND_ANNOUNCE = """
if ARGV[8] == '1' then
  redis.call('UNLINK', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
for i = 3, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[4])
  redis.call('PEXPIRE', KEYS[i], ARGV[3])
end
redis.call('HSETNX', KEYS[2], 'id', ARGV[7])
local n = redis.call('HINCRBY', KEYS[2], 'n', 1)
local epoch = redis.call('HGET', KEYS[2], 'id') .. ':' .. n
redis.call('PUBLISH', ARGV[5], cjson.encode({origin = ARGV[6], epoch = epoch, keys = {ARGV[4]}, stamp = ARGV[9]}))
return epoch
"""

MAX_CLOSURE = 100_000


@dataclass(frozen=True)
class Invalidation:
    epoch: str
    keys: list[str]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class DependencyGraph:
    """The shared `resource -> dependents` graph and the atomic invalidate/announce script."""

    def __init__(self, l2: RedisTier, origin: str) -> None:
        self._l2 = l2
        self._keys = l2.keys
        self._origin = origin
        self._invalidate = l2.client.register_script(_INVALIDATE)
        self._write = l2.client.register_script(_WRITE_AND_ANNOUNCE)

    async def invalidate(self, resources: Sequence[str]) -> Invalidation:
        """Unlink `resources` and their transitive dependents from L2 and broadcast the keys."""
        args: list[str | int] = [
            self._keys.value_prefix,
            self._keys.deps_prefix,
            self._keys.channel,
            self._origin,
            secrets.token_hex(8),
            MAX_CLOSURE,
            *resources,
        ]
        epoch, out = await self._l2.run(
            "invalidate", lambda: self._invalidate(keys=[self._keys.epoch], args=args)
        )
        return Invalidation(_text(epoch), [_text(k) for k in out])

    async def write_and_announce(self, key: str, record: Record | None, depends_on: Sequence[str]) -> str:
        """Store `record` (None: delete the key), add its edges and tell every instance that `key` changed,
        so their L1 copies go; one round trip. Returns the new epoch."""
        now = time.time()
        keys = [self._keys.value(key), self._keys.epoch, *(self._keys.deps(r) for r in depends_on)]
        args: list[str | int | bytes] = [
            b"" if record is None else record.encode(),
            1 if record is None else self._l2.ttl_ms(record, now),
            int(self._l2.settings.dependency_ttl_seconds * 1000),
            key,
            self._keys.channel,
            self._origin,
            secrets.token_hex(8),
            1 if record is None else 0,
            "" if record is None else repr(record.expires_at),
        ]
        epoch = await self._l2.run("set", lambda: self._write(keys=keys, args=args))
        return _text(epoch)

    async def add(self, resource: str, dependents: Sequence[str]) -> None:
        """Record that each of `dependents` must be invalidated with `resource`."""

        async def write() -> None:
            async with self._l2.client.pipeline(transaction=False) as pipe:
                for key in dependents:
                    self._l2.add_edges(pipe, key, [resource])
                await pipe.execute()

        await self._l2.run("deps", write)

    async def dependents(self, resource: str) -> set[str]:
        """Direct dependents of `resource`."""
        members = await self._l2.run("deps", lambda: self._l2.client.smembers(self._keys.deps(resource)))
        return {_text(m) for m in members}


class InvalidationListener:
    """Subscribes to the invalidation channel, applies foreign messages to L1, reconnects with backoff,
    reconciles on every subscription and confirms the channel live with awaited PINGs (module doc)."""

    def __init__(
        self,
        client: aioredis.Redis,
        settings: CacheSettings,
        *,
        origin: str,
        on_keys: Callable[[list[str], float | None], None],
        on_missed: Callable[[], int],
        on_confirmed: Callable[[float], None] = lambda at: None,
    ) -> None:
        self._client = client
        self._settings = settings
        self._keys = RedisKeys(settings.namespace)
        self._origin = origin
        self._on_keys = on_keys
        self._on_missed = on_missed  # drops L1, returns how many entries went
        self._on_confirmed = on_confirmed  # every message published before this (wall) time was applied
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.last_epoch: str | None = None
        self.subscriptions = 0  # successful (re)subscribes, for tests and diagnostics
        self.gaps = 0  # subscriptions after which L1 was dropped
        self.confirmed_at = float("-inf")  # wall time of the newest confirmation
        self.subscribed = False
        self._stopping = False

    async def start(self, ready_timeout: float) -> None:
        """Start listening; wait briefly for the first subscription (never fails if Redis is down)."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name=f"cache-invalidation-{self._origin}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), ready_timeout)

    async def close(self) -> None:
        self._stopping = True
        if self._task is not None:
            await stop([self._task])
            self._task = None
        self.subscribed = False

    async def _current_epoch(self) -> str | None:
        ident, n = await self._client.hmget(self._keys.epoch, ["id", "n"])
        if ident is None or n is None:
            return None
        return f"{_text(ident)}:{_text(n)}"

    def _confirm(self, at: float) -> None:
        if at > self.confirmed_at:
            self.confirmed_at = at
            self._on_confirmed(at)

    async def _listen(self) -> None:
        delay = self._settings.pubsub_reconnect_min_seconds
        first = True
        while not self._stopping:
            pubsub = self._client.pubsub()
            try:
                sent = time.time()
                await self._subscribe(pubsub)
                # Subscribed (Redis said so): nothing published from now on is missed. What was published
                # before shows as an epoch change; before the first subscription there is no epoch to
                # compare with, so what L1 took meanwhile (Redis was unreachable) cannot be trusted.
                epoch = await self._current_epoch()
                if first or epoch != self.last_epoch:
                    dropped = self._on_missed()
                    if dropped or not first:
                        metrics.L1_DROPS.labels("missed_invalidations").inc()
                        self.gaps += 1
                self.last_epoch = epoch
                first = False
                self.subscribed = True
                self.subscriptions += 1
                self._confirm(sent)
                self._ready.set()
                delay = self._settings.pubsub_reconnect_min_seconds
                await self._pump(pubsub)
            except asyncio.CancelledError:
                raise
            except REDIS_FAILURES as exc:
                if self.subscribed:
                    log.warning("cache invalidation channel lost: %s", exc)
                metrics.L2_ERRORS.labels("pubsub").inc()
            finally:
                self.subscribed = False
                with contextlib.suppress(*REDIS_FAILURES):
                    # aclose() is redis-py >= 5's name; the types-redis stubs predate it.
                    await cast(Any, pubsub).aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._settings.pubsub_reconnect_max_seconds)

    async def _subscribe(self, pubsub: aioredis.client.PubSub) -> None:
        """SUBSCRIBE and wait for Redis to confirm it (redis-py only sends the command)."""
        timeout = self._settings.pubsub_ping_seconds
        await pubsub.subscribe(self._keys.channel)
        async with asyncio.timeout(timeout):
            while True:
                message = await pubsub.get_message(timeout=timeout)
                if message is not None and message.get("type") == "subscribe":
                    return

    async def _pump(self, pubsub: aioredis.client.PubSub) -> None:
        """Apply messages; PING every P and require each reply within P (a silent, half-open connection
        never closes by itself). Replies come in order, each naming its PING."""
        every = self._settings.pubsub_ping_seconds
        loop = asyncio.get_running_loop()
        next_ping = loop.time() + every
        pending: collections.deque[tuple[str, float, float]] = collections.deque()  # token, wall, loop time
        sequence = 0
        while not self._stopping:
            now = loop.time()
            if now >= next_ping:
                sequence += 1
                token = f"{self._origin}:{sequence}"
                pending.append((token, time.time(), now))
                await pubsub.ping(token)
                next_ping = now + every
            wait = next_ping - now
            if pending:
                wait = min(wait, pending[0][2] + every - now)
            message = await pubsub.get_message(timeout=max(wait, 0.001))
            if message is None:
                # Judged only after a read found nothing: a reply that waited in the socket while the event
                # loop was busy is not a missing one.
                if pending and loop.time() - pending[0][2] >= every:
                    raise ConnectionError(f"no reply to PING within {every:g}s: connection dead or half-open")
                continue
            kind = message.get("type")
            if kind == "message":
                self._handle(message["data"])
            elif kind == "pong":
                token = _text(message["data"] or b"")
                while pending:
                    sent_token, sent_at, _ = pending.popleft()
                    if sent_token == token:
                        self._confirm(sent_at)
                        break

    def _handle(self, data: bytes | str) -> None:
        try:
            payload = json.loads(data)
            epoch, origin, keys = str(payload["epoch"]), str(payload["origin"]), list(payload["keys"])
            stamp = float(payload["stamp"]) if payload.get("stamp") else None
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed invalidation message")
            return
        self.last_epoch = epoch
        if origin != self._origin:
            self._on_keys([str(k) for k in keys], stamp)
