"""Rate limiting (429 with Retry-After and RateLimit-*) and fault injection (off by default, settable)."""

from __future__ import annotations

import os
import time

from prometheus_client import REGISTRY

from runtime.service.tokens import Scope
from tests.service.conftest import AppFactory


def _denied_ip() -> float:
    labels = {"result": "denied", "scope": "ip"}
    return REGISTRY.get_sample_value("streamgate_ratelimit_requests_total", labels) or 0.0


async def test_rate_limit_answers_429_with_headers(make_gateway: AppFactory) -> None:
    gw = await make_gateway(
        security={
            "rate_limit": {
                "ip": {"requests": 5, "period_seconds": 60},
                "user": None,
                "service": None,
                "global_limit": None,
            }
        }
    )
    denied_before = _denied_ip()
    statuses = []
    for _ in range(7):
        response = await gw.client.get("/v1/content/x/manifest")
        statuses.append(response.status_code)
        assert response.headers["ratelimit-limit"] == "5"
    assert statuses[:5] == [404] * 5
    assert statuses[5:] == [429, 429]
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["ratelimit-remaining"] == "0"
    assert int(response.headers["ratelimit-reset"]) >= 1
    assert response.json()["scope"] == "ip"
    # Operations endpoints are never limited (probes and scrapes must get through).
    assert (await gw.client.get("/healthz")).status_code == 200
    text = (await gw.client.get("/metrics")).text
    assert (
        'streamgate_ratelimit_checks_total{color="green",region="local-b",result="denied",scope="ip",version="1.2.3"}'
        in text
    )
    # Per request, what the rejection alert reads (a process-wide counter: compare before and after).
    assert _denied_ip() - denied_before == 2


async def test_user_scope_uses_token_subject(make_gateway: AppFactory) -> None:
    gw = await make_gateway(
        security={
            "rate_limit": {
                "user": {"requests": 2, "period_seconds": 60},
                "ip": None,
                "service": None,
                "global_limit": None,
            }
        }
    )
    alice = gw.auth(Scope.VIEWER, "alice")
    codes = [(await gw.client.get("/v1/content/x/manifest", headers=alice)).status_code for _ in range(3)]
    assert codes == [404, 404, 429]
    bob = await gw.client.get("/v1/content/x/manifest", headers=gw.auth(Scope.VIEWER, "bob"))
    assert bob.status_code == 404  # another user's budget is untouched


async def test_fault_injection_off_by_default_and_settable(make_gateway: AppFactory) -> None:
    gw = await make_gateway()
    faults = await gw.client.get("/v1/admin/faults", headers=gw.auth())
    assert faults.json()["active"] is False
    assert (await gw.client.put("/v1/admin/faults", json={"error_rate": 1.0})).status_code == 401
    viewer = await gw.client.put("/v1/admin/faults", json={"error_rate": 1.0}, headers=gw.auth(Scope.VIEWER))
    assert viewer.status_code == 403
    # An admin token alone can fail all traffic no more: MFA step-up, as for every admin write.
    no_mfa = await gw.client.put("/v1/admin/faults", json={"error_rate": 1.0}, headers=gw.auth())
    assert (
        no_mfa.status_code == 401 and "insufficient_user_authentication" in no_mfa.headers["www-authenticate"]
    )
    assert (await gw.client.get("/v1/admin/faults", headers=gw.auth())).json()["active"] is False
    admin = await gw.step_up()
    bad = await gw.client.put("/v1/admin/faults", json={"error_rate": 2}, headers=admin)
    assert bad.status_code == 422

    on = await gw.client.put(
        "/v1/admin/faults", json={"error_rate": 1.0, "latency_seconds": 0.05}, headers=admin
    )
    expected = {"error_rate": 1.0, "latency_seconds": 0.05, "latency_rate": 1.0, "cpu_seconds": 0.0}
    assert on.json() == {**expected, "active": True}
    started = time.perf_counter()
    hit = await gw.client.get("/v1/content/x/manifest")
    assert hit.status_code == 500 and hit.json() == {"error": "injected fault"}
    assert time.perf_counter() - started >= 0.05
    assert (await gw.client.get("/healthz")).status_code == 200  # probes are never faulted
    text = (await gw.client.get("/metrics")).text
    assert 'route="other",status_class="5xx"' in text or 'status_class="5xx"' in text
    await gw.client.put("/v1/admin/faults", json={"error_rate": 0, "latency_seconds": 0}, headers=admin)
    assert (await gw.client.get("/v1/content/x/manifest")).status_code == 404


async def test_faults_from_settings_apply_at_a_rate(make_gateway: AppFactory) -> None:
    gw = await make_gateway(faults={"error_rate": 0.5})
    codes = [(await gw.client.get("/v1/content/x/manifest")).status_code for _ in range(200)]
    assert 60 < codes.count(500) < 140
    assert set(codes) == {404, 500}


async def test_oversized_upload_is_refused(make_gateway: AppFactory) -> None:
    gw = await make_gateway(content={"max_upload_bytes": 1024})
    admin = await gw.step_up()
    response = await gw.client.put("/v1/content/big/segments/1", content=os.urandom(2048), headers=admin)
    assert response.status_code == 413


PLAYER = "https://player.example.com"


async def test_answers_of_the_edge_itself_carry_cors(make_gateway: AppFactory) -> None:
    """A 429 or an injected fault is answered before the app's CORS layer: a browser player must still be
    able to read it (and Retry-After, to back off)."""
    limits = {
        "ip": {"requests": 1, "period_seconds": 60},
        "user": None,
        "service": None,
        "global_limit": None,
    }
    limited = await make_gateway(cors={"allow_origins": [PLAYER]}, security={"rate_limit": limits})
    unlimited = {"rate_limit": dict.fromkeys(limits)}  # the two share Redis, so the IP's budget too
    faulty = await make_gateway(
        cors={"allow_origins": [PLAYER]}, faults={"error_rate": 1.0}, security=unlimited
    )
    first = await limited.client.get("/v1/content/x/manifest", headers={"Origin": PLAYER})
    assert first.status_code == 404  # the one request allowed
    answers = {
        "rate limited": await limited.client.get("/v1/content/x/manifest", headers={"Origin": PLAYER}),
        "injected fault": await faulty.client.get("/v1/content/x/manifest", headers={"Origin": PLAYER}),
    }
    assert (answers["rate limited"].status_code, answers["injected fault"].status_code) == (429, 500)
    for what, answer in answers.items():
        assert answer.headers.get("access-control-allow-origin") == PLAYER, what
        assert answer.headers.get("vary") == "Origin", what
    exposed = {h.strip() for h in answers["rate limited"].headers["access-control-expose-headers"].split(",")}
    assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= exposed
