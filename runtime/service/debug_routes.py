"""Admin endpoints of production debugging, all behind MFA step-up: arm, list and clear debug probes,
read their snapshots (runtime/observability/debugging.py), and issue debug tokens (Server-Timing)."""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runtime.observability.conditions import ConditionError
from runtime.observability.debugging import MAX_HITS, MAX_PER_SECOND, MAX_TTL_SECONDS
from runtime.observability.probes import POINTS, ProbeError
from runtime.service.content_routes import _read_body
from runtime.service.tokens import Scope

if TYPE_CHECKING:
    from runtime.service.gateway import Gateway


class ProbeArming(BaseModel):
    model_config = ConfigDict(extra="forbid")

    condition: str = Field("True", max_length=500)
    max_hits: int = Field(10, ge=1, le=MAX_HITS)
    ttl_seconds: float = Field(300.0, gt=0, le=MAX_TTL_SECONDS, allow_inf_nan=False)
    max_per_second: int = Field(1, ge=1, le=MAX_PER_SECOND)


async def _admin(request: Request) -> tuple[Gateway, str]:
    gateway: Gateway = request.app.state.gateway
    claims = await gateway.auth.require_admin_step_up(request)
    return gateway, claims.sub


def _probe_name(request: Request) -> str:
    name: str = request.path_params["name"]
    if name not in POINTS:
        raise HTTPException(404, f"no probe named {name[:64]!r}; probes: {', '.join(POINTS)}")
    return name


async def list_probes(request: Request) -> Response:
    gateway, _ = await _admin(request)
    return JSONResponse({"probes": await gateway.probes.status()})


async def arm_probe(request: Request) -> Response:
    gateway, sub = await _admin(request)
    name = _probe_name(request)
    body = await _read_body(request, 4096)
    try:
        spec = ProbeArming.model_validate(json.loads(body or b"{}"))
    except (ValueError, ValidationError) as exc:
        raise HTTPException(
            422,
            f"expected {{condition, max_hits (1-{MAX_HITS}), ttl_seconds (<= {MAX_TTL_SECONDS}), "
            f"max_per_second (1-{MAX_PER_SECOND})}}",
        ) from exc
    try:
        arming = await gateway.probes.arm(
            name,
            spec.condition,
            max_hits=spec.max_hits,
            ttl_seconds=spec.ttl_seconds,
            max_per_second=spec.max_per_second,
            by=sub,
        )
    except ConditionError as exc:
        raise HTTPException(422, f"condition refused: {exc}") from exc
    except ProbeError as exc:
        raise HTTPException(422, str(exc)) from exc
    gateway.log.warning("debug probe %s armed by %s: %s", name, sub, spec.condition)
    return JSONResponse({"probe": name, "armed": arming.to_json()})


async def clear_probe(request: Request) -> Response:
    gateway, sub = await _admin(request)
    name = _probe_name(request) if "name" in request.path_params else None
    cleared = await gateway.probes.clear(name)
    gateway.log.info("debug probes %s cleared by %s", cleared or "(none armed)", sub)
    return JSONResponse({"cleared": cleared})


async def snapshots(request: Request) -> Response:
    gateway, _ = await _admin(request)
    name = _probe_name(request)
    return JSONResponse({"probe": name, "snapshots": await gateway.probes.snapshots(name)})


async def debug_token(request: Request) -> Response:
    """A short-lived token whose requests (header X-StreamGate-Debug) get Server-Timing."""
    gateway, sub = await _admin(request)
    limit = gateway.settings.debug.token_max_ttl_seconds
    try:
        ttl = float(request.query_params.get("ttl_seconds", "600"))
    except ValueError as exc:
        raise HTTPException(422, "ttl_seconds must be a number") from exc
    if not math.isfinite(ttl) or not 1 <= ttl <= limit:
        raise HTTPException(422, f"ttl_seconds must be in [1, {limit}]")
    token = gateway.signer.issue(sub, Scope.VIEWER, ttl, now=time.time(), debug=True)
    gateway.log.info("debug token issued to %s for %.0fs", sub, ttl)
    return JSONResponse({"token": token, "header": "X-StreamGate-Debug", "expires_in": math.floor(ttl)})


routes = [
    Route("/v1/admin/debug/probes", list_probes, methods=["GET"], name="debug_list_probes"),
    Route("/v1/admin/debug/probes", clear_probe, methods=["DELETE"], name="debug_clear_probes"),
    Route("/v1/admin/debug/probes/{name}", arm_probe, methods=["PUT"], name="debug_arm_probe"),
    Route("/v1/admin/debug/probes/{name}", clear_probe, methods=["DELETE"], name="debug_clear_probe"),
    Route("/v1/admin/debug/probes/{name}/snapshots", snapshots, methods=["GET"], name="debug_snapshots"),
    Route("/v1/admin/debug/token", debug_token, methods=["POST"], name="debug_token"),
]
