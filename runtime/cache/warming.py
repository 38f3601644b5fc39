"""Access statistics (a decaying top-K in Redis, shared by all instances) and the warmer that preloads the
hottest keys into L1/L2 at start-up and on a schedule.

Decay without rewriting the set: an access at time t adds 2^((t - base) / half_life), so older accesses
weigh exponentially less relative to new ones. When the multiplier grows large the script rescales every
score and moves `base` forward, atomically.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from runtime.cache.l2 import RedisTier
from runtime.cache.settings import CacheSettings

# KEYS: zset, base. ARGV: now, half-life, max size, then key/count pairs.
_RECORD = """
local now, half_life, max_size = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local base = tonumber(redis.call('GET', KEYS[2]))
if not base then
  base = now
  redis.call('SET', KEYS[2], ARGV[1])
end
local age = (now - base) / half_life
if age > 32 then
  redis.call('ZUNIONSTORE', KEYS[1], 1, KEYS[1], 'WEIGHTS', tostring(2 ^ (-age)))
  redis.call('SET', KEYS[2], ARGV[1])
  age = 0
end
local mult = 2 ^ age
for i = 4, #ARGV, 2 do
  redis.call('ZINCRBY', KEYS[1], tostring(tonumber(ARGV[i + 1]) * mult), ARGV[i])
end
local size = redis.call('ZCARD', KEYS[1])
if size > max_size then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, size - max_size - 1) end
return size
"""


class AccessStats:
    """Counts accesses locally (cheap, sync) and flushes them to Redis in one script call."""

    def __init__(self, l2: RedisTier, settings: CacheSettings) -> None:
        self._l2 = l2
        self._settings = settings
        self._pending: dict[str, float] = {}
        self._script = l2.client.register_script(_RECORD)

    def record(self, key: str, weight: float = 1.0) -> None:
        pending = self._pending
        if key in pending:
            pending[key] += weight
        elif len(pending) < self._settings.stats_max_keys:
            pending[key] = weight

    async def flush(self, now: float | None = None) -> int:
        """Send the pending counts; returns how many keys were sent. Lost (not retried) if Redis is down."""
        if not self._pending:
            return 0
        pending, self._pending = self._pending, {}
        args: list[str | float] = [
            time.time() if now is None else now,
            self._settings.stats_half_life_seconds,
            self._settings.stats_max_keys,
        ]
        for key, count in pending.items():
            args += [key, count]
        keys = [self._l2.keys.hot, self._l2.keys.hot_base]
        await self._l2.run("stats", lambda: self._script(keys=keys, args=args))
        return len(pending)

    async def top(self, n: int) -> list[str]:
        """The `n` most accessed keys, hottest first."""
        if n <= 0:
            return []
        raw = await self._l2.run("stats", lambda: self._l2.client.zrevrange(self._l2.keys.hot, 0, n - 1))
        return [k.decode() if isinstance(k, bytes) else str(k) for k in raw]


class Warmer:
    """Runs `flush` every stats interval and `warm` every warm interval, until cancelled (the cache warms
    once itself at start-up)."""

    def __init__(
        self,
        settings: CacheSettings,
        *,
        flush: Callable[[], Awaitable[object]],
        warm: Callable[[], Awaitable[object]],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self._settings = settings
        self._flush = flush
        self._warm = warm
        self._on_error = on_error

    async def run(self) -> None:
        settings = self._settings
        loop = asyncio.get_running_loop()
        next_warm = loop.time() + settings.warm_interval_seconds
        while True:
            for step in self._due(loop.time() >= next_warm):
                try:
                    await step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a failed round must not end the loop
                    self._on_error(exc)
            if loop.time() >= next_warm:
                next_warm = loop.time() + settings.warm_interval_seconds
            await asyncio.sleep(min(settings.stats_flush_seconds, max(0.0, next_warm - loop.time())))

    def _due(self, warm_due: bool) -> Sequence[Callable[[], Awaitable[object]]]:
        steps: list[Callable[[], Awaitable[object]]] = []
        if self._settings.stats_enabled:
            steps.append(self._flush)
        if warm_due and self._settings.warm_top_n > 0:
            steps.append(self._warm)
        return steps
