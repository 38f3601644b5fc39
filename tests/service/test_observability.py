"""/metrics labels, traces with W3C traceparent and spans per tier, the admin CPU profile, ops endpoints."""

from __future__ import annotations

import os

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from runtime.observability.metrics import HttpStats
from runtime.service.tokens import Scope
from tests.service.conftest import AppFactory, Running

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{PARENT_TRACE}-00f067aa0ba902b7-01"


async def test_metrics_carry_version_color_region_and_route_templates(gw: Running) -> None:
    admin = await gw.step_up()
    await gw.client.put("/v1/content/m1/segments/3", content=b"abc", headers=admin)
    await gw.client.get("/v1/content/m1/segments/3")
    await gw.client.get("/no/such/path")
    response = await gw.client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'streamgate_http_requests_total{color="green",method="GET",region="local-b",'
        'route="/v1/content/{id}/segments/{n}",status_class="2xx",version="1.2.3"}' in text
    )
    assert 'route="other",status_class="4xx"' in text
    # Every class is exported (at 0 until it happens; see the unit test below).
    assert (
        'streamgate_http_requests_total{color="green",method="GET",region="local-b",'
        'route="/v1/content/{id}/segments/{n}",status_class="5xx",version="1.2.3"}' in text
    )
    assert 'streamgate_http_request_duration_seconds_bucket{color="green",le="0.3",method="GET"' in text
    assert 'streamgate_build_info{color="green",region="local-b",version="1.2.3"} 1.0' in text
    assert "streamgate_http_requests_in_flight{" in text
    assert "streamgate_cache_hits_total{" in text or "streamgate_cache_" in text
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    unlabelled = [line for line in samples if 'version="1.2.3"' not in line]
    assert not unlabelled, unlabelled[:3]


def test_status_classes_that_did_not_happen_are_exported_at_zero() -> None:
    # So that a first 5xx changes a rate() at once (a series born with its first failure has no rate).
    stats = HttpStats()
    stats.observe("/v1/content/{id}/manifest", "GET", 200, 0.01)
    samples = {
        (s.labels["route"], s.labels["status_class"]): s.value
        for family in stats.collect()
        if family.name == "streamgate_http_requests"
        for s in family.samples
    }
    assert samples[("/v1/content/{id}/manifest", "2xx")] == 1
    assert samples[("/v1/content/{id}/manifest", "5xx")] == 0
    assert samples[("other", "4xx")] == 0


async def test_ops_endpoints(gw: Running) -> None:
    await gw.gateway.monitor.round()  # the background probes' first round, now
    health = (await gw.client.get("/healthz")).json()
    assert health["status"] == "ok" and health["degraded"] == []
    assert {name: b["up"] for name, b in health["backends"].items()} == {
        "redis": True,
        "object_store": True,
        "cache_invalidation": True,
    }
    ready = await gw.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "phase": "serving", "degraded": []}
    version = (await gw.client.get("/version")).json()
    assert (version["version"], version["color"], version["region"]) == ("1.2.3", "green", "local-b")
    schema = (await gw.client.get("/openapi.json")).json()
    assert "/v1/content/{id}/segments/{n}" in schema["paths"]


async def test_traceparent_continues_and_spans_cover_tiers(make_gateway: AppFactory) -> None:
    exporter = InMemorySpanExporter()
    gw = await make_gateway(span_exporter=exporter)
    admin = await gw.step_up()
    await gw.client.put("/v1/content/t1/segments/0", content=os.urandom(1000), headers=admin)
    exporter.clear()
    response = await gw.client.get("/v1/content/t1/segments/0", headers={"traceparent": TRACEPARENT})
    assert response.headers["x-streamgate-cache"] == "origin"
    spans = exporter.get_finished_spans()
    names = {s.name for s in spans}
    assert {
        "GET /v1/content/{id}/segments/{n}",
        "ratelimit.check",
        "cache.lookup",
        "cache.l2.get",
        "cache.l3.get",
        "storage.fetch",
    } <= names, names
    assert all(format(s.context.trace_id, "032x") == PARENT_TRACE for s in spans)
    server = next(s for s in spans if s.name.startswith("GET "))
    assert server.parent is not None and format(server.parent.span_id, "016x") == "00f067aa0ba902b7"
    lookup = next(s for s in spans if s.name == "cache.lookup")
    assert lookup.attributes is not None and lookup.attributes["streamgate.cache.tier"] == "origin"

    exporter.clear()
    await gw.client.get("/v1/content/t1/segments/0")
    lookup = next(s for s in exporter.get_finished_spans() if s.name == "cache.lookup")
    assert lookup.attributes is not None and lookup.attributes["streamgate.cache.tier"] == "l1"


async def test_admin_cpu_profile(gw: Running) -> None:
    assert (await gw.client.post("/v1/admin/profile?seconds=0.2")).status_code == 401
    assert (
        await gw.client.post("/v1/admin/profile?seconds=0.2", headers=gw.auth(Scope.VIEWER))
    ).status_code == 403
    assert (await gw.client.post("/v1/admin/profile?seconds=0.2", headers=gw.auth())).status_code == 401
    admin = await gw.step_up()  # an admin write: MFA step-up
    assert (await gw.client.post("/v1/admin/profile?seconds=999", headers=admin)).status_code == 422
    response = await gw.client.post("/v1/admin/profile?seconds=0.3", headers=admin)
    assert response.status_code == 200
    assert "pyinstrument" in response.text.lower() or "Duration" in response.text
    html = await gw.client.post("/v1/admin/profile?seconds=0.1&format=html", headers=admin)
    assert html.headers["content-type"].startswith("text/html")
