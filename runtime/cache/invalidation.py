"""Cross-instance invalidation: a dependency graph in Redis, a pub/sub broadcast, and an epoch.

`invalidate(resources)` runs one Lua script that walks `resource -> dependents` edges transitively, unlinks
every reached value, bumps the epoch and publishes the keys, atomically. Each instance's listener drops the
keys from its L1. Pub/sub is fire-and-forget: a listener that was disconnected may have missed messages, so
on every (re)subscribe it compares the epoch in Redis with the last one it saw and, if they differ, drops
its whole L1. The epoch carries a random id per Redis lifetime, so a restarted (emptied) Redis never looks
unchanged.
"""

from __future__ import annotations

import asyncio
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
from runtime.cache.tasks import stop

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
    """Subscribes to the invalidation channel, applies foreign messages to L1, reconnects with backoff and
    drops L1 after a gap in which messages may have been missed."""

    def __init__(
        self,
        client: aioredis.Redis,
        settings: CacheSettings,
        *,
        origin: str,
        on_keys: Callable[[list[str], float | None], None],
        on_missed: Callable[[], None],
    ) -> None:
        self._client = client
        self._settings = settings
        self._keys = RedisKeys(settings.namespace)
        self._origin = origin
        self._on_keys = on_keys
        self._on_missed = on_missed
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.last_epoch: str | None = None
        self.subscriptions = 0  # successful (re)subscribes, for tests and diagnostics
        self.gaps = 0  # reconnects after which L1 was dropped
        self.subscribed = False
        self._stopping = False

    async def start(self, ready_timeout: float = 1.0) -> None:
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

    async def _listen(self) -> None:
        delay = self._settings.pubsub_reconnect_min_seconds
        first = True
        while not self._stopping:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._keys.channel)
                # Subscribed: from now on nothing is missed. Anything before shows as an epoch change.
                epoch = await self._current_epoch()
                if not first and epoch != self.last_epoch:
                    metrics.L1_DROPS.labels("missed_invalidations").inc()
                    self.gaps += 1
                    self._on_missed()
                self.last_epoch = epoch
                first = False
                self.subscribed = True
                self.subscriptions += 1
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

    async def _pump(self, pubsub: aioredis.client.PubSub) -> None:
        ping_every = self._settings.pubsub_ping_seconds
        loop = asyncio.get_running_loop()
        last_traffic = loop.time()
        while not self._stopping:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=min(1.0, ping_every))
            now = loop.time()
            if message is None:
                if now - last_traffic >= ping_every:
                    await pubsub.ping()  # detects a half-open connection; the pong arrives as a message
                    last_traffic = now
                continue
            last_traffic = now
            if message.get("type") != "message":
                continue
            self._handle(message["data"])

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
