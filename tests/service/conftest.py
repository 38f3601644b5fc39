"""Gateway test fixtures: the real app on the real redis-server and moto's S3/KMS, driven with httpx
through the ASGI interface (lifespan included)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pyotp
import pytest
from starlette.applications import Starlette

from runtime.service import Gateway, GatewaySettings, create_app
from runtime.service.tokens import Scope
from tests.servers import MotoServer, RedisServer

SIGNING_KEY = "test-signing-key-0123456789abcdef"


def gateway_settings(redis_url: str, moto_url: str, **overrides: Any) -> GatewaySettings:
    """Settings for one test: a fresh bucket, generous rate limits unless a test tightens them."""
    base: dict[str, Any] = {
        "version": "1.2.3",
        "color": "green",
        "region": "local-b",
        "redis": {"url": redis_url},
        "storage": {
            "bucket": f"gw-{uuid.uuid4().hex[:12]}",
            "endpoint_url": moto_url,
            "region": "us-east-1",
            "create_bucket": True,
        },
        "security": {
            "encryption": {"kms_endpoint_url": moto_url, "region": "us-east-1"},
            "rate_limit": {
                "global_limit": {"requests": 100_000, "period_seconds": 1},
                "service": {"requests": 100_000, "period_seconds": 1},
                "user": {"requests": 100_000, "period_seconds": 1},
                "ip": {"requests": 100_000, "period_seconds": 1},
            },
        },
        "auth": {"signing_key": SIGNING_KEY},
        "cache": {"warm_top_n": 0, "l1_ttl_jitter": 0.0},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return GatewaySettings.model_validate(base)


@dataclass
class Running:
    app: Starlette
    client: httpx.AsyncClient

    @property
    def gateway(self) -> Gateway:
        gateway: Gateway = self.app.state.gateway
        return gateway

    def token(self, scope: Scope = Scope.ADMIN, sub: str = "ops", ttl: float = 600) -> str:
        return self.gateway.signer.issue(sub, scope, ttl)

    def auth(self, scope: Scope = Scope.ADMIN, sub: str = "ops") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(scope, sub)}"}

    async def enroll(self, sub: str = "ops") -> pyotp.TOTP:
        """Enrol TOTP for `sub`; the enrolment itself uses the current step's code."""
        enrollment = await self.gateway.mfa.begin_totp_enrollment(sub)
        totp = pyotp.TOTP(enrollment.secret)
        await self.gateway.mfa.confirm_totp_enrollment(sub, totp.now())
        return totp

    async def step_up(self, sub: str = "ops") -> dict[str, str]:
        """Admin headers with a step-up token (MFA done once, with the next step's code)."""
        totp = await self.enroll(sub)
        response = await self.client.post(
            "/v1/auth/step-up",
            headers={**self.auth(Scope.ADMIN, sub), "X-StreamGate-MFA": totp.at(time.time() + 30)},
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}


AppFactory = Callable[..., Awaitable[Running]]


@pytest.fixture
async def make_gateway(redis: RedisServer, moto: MotoServer) -> AsyncIterator[AppFactory]:
    """Start gateways (lifespan run) with settings overrides; all are stopped after the test."""
    stack: list[tuple[Any, httpx.AsyncClient]] = []

    async def make(**overrides: Any) -> Running:
        span_exporter = overrides.pop("span_exporter", None)
        app = create_app(gateway_settings(redis.url, moto.url, **overrides), span_exporter=span_exporter)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
        stack.append((lifespan, client))
        return Running(app, client)

    yield make
    for lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def gw(make_gateway: AppFactory) -> Running:
    return await make_gateway()
