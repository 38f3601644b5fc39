"""Production debugging: debug probes armed through the admin API (MFA step-up), their conditions in the
safe language, snapshots (redacted, with stack, request and trace ids) kept within hit limit, TTL and rate
across instances, and Server-Timing for requests that carry a debug token."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from runtime.observability import probes
from runtime.observability.conditions import ConditionError, compile_condition
from runtime.service.tokens import Scope
from tests.servers import MotoServer, RedisServer
from tests.service.conftest import SIGNING_KEY, AppFactory, Running
from tests.service.live import free_port, gateway_env, live_gateway

PROBES = "/v1/admin/debug/probes"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


async def until(check: Callable[[], Awaitable[Any]], within: float = 5.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


async def snapshots(gw: Running, admin: dict[str, str], name: str) -> list[dict[str, Any]]:
    answer = await gw.client.get(f"{PROBES}/{name}/snapshots", headers=admin)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["snapshots"]
    return found


# -- the condition language ------------------------------------------------------------------------------
VARS = frozenset({"key", "tier", "status", "allowed"})


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ('startswith(key, "v1/content/a") and tier != "l1"', {"key": "v1/content/abc", "tier": "l2"}, True),
        ('startswith(key, "v1/content/a") and tier != "l1"', {"key": "v1/content/abc", "tier": "l1"}, False),
        ("status >= 500 or not allowed", {"status": 200, "allowed": False}, True),
        ('tier in ("l3", "origin")', {"tier": "origin"}, True),
        ("len(key) > 3 and -status < -400", {"key": "abcd", "status": 404}, True),
        ("400 <= status < 500", {"status": 404}, True),
        ("400 <= status < 500", {"status": 503}, False),
        ("", {}, True),
    ],
)
def test_conditions_evaluate(text: str, values: dict[str, Any], expected: bool) -> None:
    assert compile_condition(text, VARS)(values) is expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("__import__('os').system('id')", "calls to __import__('os').system are not allowed"),
        ("key.startswith('a')", "no attribute access"),
        ("open('/etc/passwd')", "calls to open are not allowed"),
        ("key[0] == 'v'", "Subscript is not part"),
        ("(lambda: 1)()", "not allowed"),
        ("[k for k in key]", "ListComp is not part"),
        ("secret == 1", "unknown name 'secret'"),
        ("status is None", "not `is`"),
        ("key == b'x'", "only strings, numbers"),
        ("startswith(key, prefix='a')", "no keyword arguments"),
        ("status ==", "not an expression"),
        (" or ".join(["s==1"] * 30).replace("s", "status", 1), "parts; at most"),
        ("status == 1 or " * 40 + "True", "longer than 500 characters"),
    ],
)
def test_unsafe_or_foreign_expressions_are_refused(text: str, why: str) -> None:
    with pytest.raises(ConditionError, match=re.escape(why)):
        compile_condition(text, VARS)


def test_redaction_removes_credentials_by_name_and_by_look() -> None:
    token = "sg1.eyJzdWIiOiJvcHMifQ.c2lnbmF0dXJlLXZhbHVl"
    assert probes.redact("signing_key", "x") == probes.REDACTED
    assert probes.redact("password", "hunter2") == probes.REDACTED
    assert probes.redact("headers", [(b"authorization", f"Bearer {token}".encode()), (b"host", b"gw")]) == [
        ["authorization", probes.REDACTED],
        ["host", "gw"],
    ]
    assert token not in json.dumps(probes.redact("note", f"user sent {token} today"))
    assert probes.redact("key", "v1/content/abc") == "v1/content/abc"  # a cache key is not a credential
    assert probes.redact("body", b"x" * 1000) == "<1000 bytes>"


# -- the admin API ---------------------------------------------------------------------------------------
async def test_every_debug_endpoint_needs_an_mfa_step_up(gw: Running) -> None:
    plain_admin = gw.auth(Scope.ADMIN)
    calls = [
        ("GET", PROBES, None),
        ("DELETE", PROBES, None),
        ("PUT", f"{PROBES}/cache_miss", {"condition": "True"}),
        ("DELETE", f"{PROBES}/cache_miss", None),
        ("GET", f"{PROBES}/cache_miss/snapshots", None),
        ("POST", "/v1/admin/debug/token", None),
    ]
    for method, path, body in calls:
        answer = await gw.client.request(method, path, json=body, headers=plain_admin)
        assert answer.status_code == 401, (method, path, answer.text)
        assert "step-up" in answer.json()["error"]
        assert "insufficient_user_authentication" in answer.headers["www-authenticate"]
        viewer = await gw.client.request(method, path, json=body, headers=gw.auth(Scope.VIEWER))
        assert viewer.status_code == 403, (method, path)
        anonymous = await gw.client.request(method, path, json=body)
        assert anonymous.status_code == 401
    assert not probes.CACHE_MISS.armed


async def test_unsafe_expressions_and_unknown_probes_are_refused(gw: Running) -> None:
    admin = await gw.step_up()
    unsafe = await gw.client.put(
        f"{PROBES}/cache_miss", json={"condition": "__import__('os').system('id')"}, headers=admin
    )
    assert unsafe.status_code == 422
    assert unsafe.json()["error"].startswith("condition refused: calls to __import__('os').system are not")
    unknown_var = await gw.client.put(
        f"{PROBES}/cache_miss", json={"condition": "status == 1"}, headers=admin
    )
    assert "this probe's variables are key, kind, tier" in unknown_var.json()["error"]
    nosuch = await gw.client.put(f"{PROBES}/no_such_probe", json={}, headers=admin)
    assert nosuch.status_code == 404
    assert "probes: cache_miss, origin_fetch, ratelimit_decision, auth_failure" in nosuch.json()["error"]
    assert (await gw.client.get(f"{PROBES}/no_such_probe/snapshots", headers=admin)).status_code == 404
    bounds = await gw.client.put(f"{PROBES}/cache_miss", json={"max_hits": 0}, headers=admin)
    assert bounds.status_code == 422
    listed = (await gw.client.get(PROBES, headers=admin)).json()["probes"]
    assert [p["armed"] for p in listed] == [None] * 4 and not probes.CACHE_MISS.armed


async def test_a_hit_captures_a_redacted_snapshot_up_to_the_hit_limit(gw: Running) -> None:
    admin = await gw.step_up()
    condition = 'startswith(key, "v1/content/wanted")'
    arm = {"condition": condition, "max_hits": 2, "ttl_seconds": 60, "max_per_second": 10}
    armed = await gw.client.put(f"{PROBES}/cache_miss", json=arm, headers=admin)
    assert armed.status_code == 200, armed.text
    assert armed.json()["armed"]["by"] == "ops"
    viewer_token = gw.token(Scope.VIEWER, "viewer-1")
    request_headers = {
        "Authorization": f"Bearer {viewer_token}",
        "X-Request-Id": "req-123",
        "traceparent": TRACEPARENT,
    }
    assert (await gw.client.get("/v1/content/other/manifest", headers=request_headers)).status_code == 404
    for n in range(4):  # four matching misses (a miss is cached: four titles); the hit limit keeps two
        wanted = await gw.client.get(f"/v1/content/wanted-{n}/manifest", headers=request_headers)
        assert wanted.status_code == 404
    kept = await until(lambda: snapshots(gw, admin, "cache_miss"))
    await asyncio.sleep(0.3)  # give any excess write a chance to land (it must not)
    kept = await snapshots(gw, admin, "cache_miss")
    assert len(kept) == 2
    snap = kept[0]
    # newest first; a title the origin does not have was still answered by the origin (with "none")
    assert snap["values"] == {"key": "v1/content/wanted-1/manifest", "tier": "origin", "kind": "manifest"}
    assert (snap["request_id"], snap["trace_id"]) == ("req-123", TRACE_ID)
    assert (snap["method"], snap["path"]) == ("GET", "/v1/content/wanted-1/manifest")
    assert any("runtime/service/content.py" in frame and "in get" in frame for frame in snap["stack"])
    assert "path" in snap["locals"] and "key" in snap["locals"]
    text = json.dumps(kept)
    assert viewer_token not in text and SIGNING_KEY not in text
    # the last allowed hit cleared the probe, everywhere
    listed = (await gw.client.get(PROBES, headers=admin)).json()["probes"]
    assert next(p for p in listed if p["name"] == "cache_miss")["armed"] is None
    assert not probes.CACHE_MISS.armed


async def test_an_armed_probe_never_exceeds_its_rate(gw: Running) -> None:
    admin = await gw.step_up()
    arm = {"condition": 'reason == "invalid_token"', "max_hits": 500, "ttl_seconds": 60, "max_per_second": 2}
    assert (await gw.client.put(f"{PROBES}/auth_failure", json=arm, headers=admin)).status_code == 200
    bad = {"Authorization": "Bearer sg1.not.valid"}
    started = time.monotonic()
    while time.monotonic() - started < 2.2:
        answers = await asyncio.gather(
            *(gw.client.get("/v1/content/x/manifest", headers=bad) for _ in range(10))
        )
        assert {a.status_code for a in answers} == {401}
    await asyncio.sleep(0.3)
    kept = await snapshots(gw, admin, "auth_failure")
    per_second = Counter(int(s["at"]) for s in kept)
    assert kept and max(per_second.values()) <= 2, per_second
    assert len(kept) <= 2 * (len(per_second))
    assert all(s["values"]["status"] == 401 and s["values"]["sub"] is None for s in kept)
    assert "sg1.not.valid" not in json.dumps(kept)


async def test_a_probe_expires_with_its_ttl(gw: Running) -> None:
    admin = await gw.step_up()
    arm = {"condition": "True", "max_hits": 10, "ttl_seconds": 0.3}
    assert (await gw.client.put(f"{PROBES}/cache_miss", json=arm, headers=admin)).status_code == 200
    await asyncio.sleep(0.5)
    assert (await gw.client.get("/v1/content/late/manifest")).status_code == 404
    await asyncio.sleep(0.2)
    assert await snapshots(gw, admin, "cache_miss") == []
    assert not probes.CACHE_MISS.armed
    listed = (await gw.client.get(PROBES, headers=admin)).json()["probes"]
    assert next(p for p in listed if p["name"] == "cache_miss")["armed"] is None


async def test_an_arming_reaches_another_gateway_process(
    gw: Running, redis: RedisServer, moto: MotoServer
) -> None:
    """Armed through this gateway, hit in another process (a real uvicorn gateway on the same Redis):
    the snapshot is read back here."""
    admin = await gw.step_up()
    port = free_port()
    env = gateway_env(redis.url, moto.url, port, STREAMGATE_DEBUG__SYNC_SECONDS="0.2")
    with live_gateway(env) as other:
        arm = {"condition": 'path == "/v1/content/elsewhere/manifest"', "max_hits": 1, "ttl_seconds": 60}
        arm["condition"] = 'reason == "invalid_token" and path == "/v1/content/elsewhere/manifest"'
        assert (await gw.client.put(f"{PROBES}/auth_failure", json=arm, headers=admin)).status_code == 200
        async with httpx.AsyncClient(base_url=other.url) as client:

            async def hit() -> list[dict[str, Any]]:
                await client.get(
                    "/v1/content/elsewhere/manifest", headers={"Authorization": "Bearer sg1.x.y"}
                )
                return await snapshots(gw, admin, "auth_failure")

            kept = await until(hit, within=10)
    assert len(kept) == 1 and kept[0]["path"] == "/v1/content/elsewhere/manifest"
    assert any("runtime/service/auth.py" in f for f in kept[0]["stack"])


# -- Server-Timing ---------------------------------------------------------------------------------------
async def test_a_debug_token_gets_server_timing_per_tier(make_gateway: AppFactory) -> None:
    gw = await make_gateway(cache={"warm_top_n": 0, "l1_ttl_jitter": 0.0})
    admin = await gw.step_up()
    stored = await gw.client.put(
        "/v1/content/timed/manifest", content=b"#EXTM3U\n", headers={**admin, "Content-Type": "text/plain"}
    )
    assert stored.status_code == 200, stored.text
    issued = await gw.client.post("/v1/admin/debug/token?ttl_seconds=120", headers=admin)
    assert issued.status_code == 200
    debug = {"X-StreamGate-Debug": issued.json()["token"]}

    first = await gw.client.get("/v1/content/timed/manifest", headers=debug)
    timing = dict(
        (p.split(";")[0].strip(), p.split(";")[1]) for p in first.headers["server-timing"].split(",")
    )
    assert first.headers["x-streamgate-cache"] == "origin"
    assert {"ratelimit", "l1", "l2", "l3", "origin", "total"} <= set(timing)
    assert timing["tier"] == 'desc="origin"'
    assert all(float(v.removeprefix("dur=")) >= 0 for k, v in timing.items() if k != "tier")
    assert first.headers["cache-control"] == "private, no-store"  # this answer is this request's

    second = await gw.client.get("/v1/content/timed/manifest", headers=debug)
    assert second.headers["x-streamgate-cache"] == "l1"
    names = [p.split(";")[0].strip() for p in second.headers["server-timing"].split(",")]
    assert names == ["ratelimit", "l1", "tier", "total"]

    plain = await gw.client.get("/v1/content/timed/manifest")
    assert "server-timing" not in plain.headers and plain.headers["cache-control"].startswith("public")
    not_debug = await gw.client.get("/v1/content/timed/manifest", headers={"X-StreamGate-Debug": gw.token()})
    assert "server-timing" not in not_debug.headers  # an admin token is not a debug token
    forged = await gw.client.get("/v1/content/timed/manifest", headers={"X-StreamGate-Debug": "sg1.a.b"})
    assert forged.status_code == 200 and "server-timing" not in forged.headers


async def test_debug_tokens_are_bounded(gw: Running) -> None:
    admin = await gw.step_up()
    for ttl in ("0", "100000", "nan", "soon"):
        answer = await gw.client.post(f"/v1/admin/debug/token?ttl_seconds={ttl}", headers=admin)
        assert answer.status_code == 422, ttl
