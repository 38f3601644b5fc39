"""Admin endpoints: MFA step-up tokens, fault injection for drills, on-demand CPU profiles.

Every admin write (any method but GET/HEAD: setting faults, which can fail all traffic; capturing a
profile; storing content) needs a completed MFA step-up (auth.py), not just an admin token."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runtime.observability import ProfileBusyError, ProfileFormat
from runtime.service.auth import MFA_HEADER, STEP_UP_CHALLENGE, STEP_UP_REQUIRED, refused
from runtime.service.content_routes import _read_body
from runtime.service.http import load_json
from runtime.service.tokens import Scope

if TYPE_CHECKING:
    from runtime.service.gateway import Gateway


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def step_up(request: Request) -> Response:
    """Exchange an admin token plus a TOTP code for a short-lived step-up token (so an upload of many
    objects needs one code, not one per 30-second TOTP step)."""
    gateway = _gateway(request)
    claims = gateway.auth.require(request, Scope.ADMIN)
    code = request.headers.get(MFA_HEADER)
    if not code:
        raise refused(request, 401, STEP_UP_REQUIRED, "step_up_required", STEP_UP_CHALLENGE)
    await gateway.auth.verify_code(request, claims, code)
    now = time.time()
    ttl = min(float(gateway.settings.auth.step_up_ttl_seconds), claims.exp - now)
    if ttl < 1:
        raise HTTPException(401, "the token expires too soon for a step-up")
    token = gateway.signer.issue(claims.sub, Scope.ADMIN, ttl, mfa_at=now, now=now)
    gateway.log.info("MFA step-up for %s", claims.sub)
    return JSONResponse({"token": token, "token_type": "Bearer", "expires_in": math.floor(ttl)})


class FaultUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error_rate: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    latency_seconds: float | None = Field(None, ge=0, le=30, allow_inf_nan=False)
    latency_rate: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    cpu_seconds: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)


async def get_faults(request: Request) -> Response:
    gateway = _gateway(request)
    gateway.auth.require(request, Scope.ADMIN)
    return JSONResponse(gateway.faults.as_dict())


async def put_faults(request: Request) -> Response:
    gateway = _gateway(request)
    claims = await gateway.auth.require_admin_step_up(request)
    body = await _read_body(request, 4096)
    try:
        update = FaultUpdate.model_validate(load_json(body or b"{}"))
    except (ValueError, ValidationError) as exc:
        raise HTTPException(
            422, "expected {error_rate, latency_seconds, latency_rate, cpu_seconds} within bounds"
        ) from exc
    changes: dict[str, Any] = update.model_dump(exclude_none=True)
    for name, value in changes.items():
        setattr(gateway.faults, name, value)
    gateway.log.warning("fault injection set by %s: %s", claims.sub, gateway.faults.as_dict())
    return JSONResponse(gateway.faults.as_dict())


async def profile(request: Request) -> Response:
    gateway = _gateway(request)
    await gateway.auth.require_admin_step_up(request)
    try:
        seconds = float(request.query_params.get("seconds", "5"))
        fmt = ProfileFormat(request.query_params.get("format", "text"))
    except ValueError as exc:
        raise HTTPException(422, "seconds must be a number and format one of text|html|speedscope") from exc
    if not math.isfinite(seconds) or seconds <= 0 or seconds > gateway.profiler.max_seconds:
        raise HTTPException(422, f"seconds must be in (0, {gateway.profiler.max_seconds:g}]")
    try:
        output = await gateway.profiler.capture(seconds, fmt)
    except ProfileBusyError as exc:
        raise HTTPException(409, "a profile is already being captured") from exc
    return Response(output, media_type=fmt.media_type)


routes = [
    Route("/v1/auth/step-up", step_up, methods=["POST"], name="auth_step_up"),
    Route("/v1/admin/faults", get_faults, methods=["GET"], name="get_faults"),
    Route("/v1/admin/faults", put_faults, methods=["PUT"], name="put_faults"),
    Route("/v1/admin/profile", profile, methods=["POST"], name="admin_profile"),
]
