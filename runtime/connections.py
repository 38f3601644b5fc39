"""Shared, bounded connection pools: one per backend per process."""

from __future__ import annotations

import redis.asyncio as aioredis


def redis_client(
    url: str,
    *,
    password: str | None = None,
    max_connections: int = 64,
    pool_timeout: float = 1.0,
    socket_timeout: float = 0.5,
    connect_timeout: float = 0.5,
) -> aioredis.Redis:
    """An asyncio Redis client on a *blocking* pool: when all connections are busy a caller waits up to
    `pool_timeout` instead of failing at once (redis-py's default pool raises "Too many connections").
    `rediss://` URLs speak TLS and verify the server's certificate; `password` is the AUTH token."""
    pool: aioredis.BlockingConnectionPool = aioredis.BlockingConnectionPool.from_url(
        url,
        password=password,
        max_connections=max_connections,
        timeout=pool_timeout,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
    )
    return aioredis.Redis(connection_pool=pool)
