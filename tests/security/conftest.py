"""Fixtures for the security tests: asyncio Redis clients on the real servers, KMS keys on moto."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import boto3
import pytest
import redis.asyncio as aioredis

from runtime.connections import redis_client
from runtime.security.envelope import Envelope
from runtime.security.settings import EncryptionSettings
from tests.servers import MotoServer, RedisServer


@pytest.fixture
async def client(redis: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A client on the shared (flushed) redis-server."""
    c = redis_client(redis.url)
    yield c
    await c.aclose()


@pytest.fixture
def kms(moto: MotoServer) -> Any:
    return boto3.client("kms", endpoint_url=moto.url, region_name="us-east-1")


@pytest.fixture
def kms_key(kms: Any) -> str:
    """A fresh symmetric KMS key (ARN)."""
    return str(kms.create_key(Description="streamgate test")["KeyMetadata"]["Arn"])


@pytest.fixture
def kms_calls(kms: Any) -> Iterator[dict[str, int]]:
    """Counts the KMS operations made through `kms` (botocore's event hooks see every real call)."""
    counts: dict[str, int] = {}

    def count(model: Any, **_: Any) -> None:
        counts[model.name] = counts.get(model.name, 0) + 1

    kms.meta.events.register("before-call.kms", count)
    yield counts
    kms.meta.events.unregister("before-call.kms", count)


@pytest.fixture
def make_envelope(kms: Any, kms_key: str) -> Callable[..., Envelope]:
    def make(**overrides: Any) -> Envelope:
        return Envelope(EncryptionSettings(kms_key_id=kms_key, **overrides), kms=kms)

    return make


@pytest.fixture
def envelope(make_envelope: Callable[..., Envelope]) -> Envelope:
    return make_envelope()


CONTEXT = {"tenant": "acme", "object_id": "video/42/seg-7.ts", "purpose": "content"}
