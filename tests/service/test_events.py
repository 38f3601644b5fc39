"""Events: per-event validation (good ones kept), bounded queue shedding with a counted 503, windows and
aggregates in the realtime API and in /metrics."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import REGISTRY

from runtime.service.tokens import Scope
from tests.service.conftest import AppFactory, Running


def _event(kind: str = "heartbeat", **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "type": kind,
        "session_id": "s1",
        "content_id": "show1",
        "ts": time.time(),
        "bitrate_kbps": 3000,
        "played_seconds": 9.0,
        "buffering_seconds": 1.0,
    }
    base.update(fields)
    return base


def _sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def _processed(gw: Running, n: int) -> None:
    for _ in range(200):
        if gw.gateway.processor.processed >= n:
            gw.gateway.analytics.tick(time.time())
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"processor saw {gw.gateway.processor.processed} of {n} events")


async def test_bad_events_rejected_individually_good_ones_kept(gw: Running) -> None:
    accepted_before = _sample("streamgate_events_received_total", result="accepted")
    rejected_before = _sample("streamgate_events_received_total", result="rejected")
    batch = [
        _event("start", session_id="a"),
        {"type": "heartbeat"},  # missing fields
        _event("heartbeat", session_id="b", bitrate_kbps=-5),  # negative bitrate
        _event("error", session_id="c"),  # error without a code
        _event("error", session_id="c", error_code="E_DECODE"),
        _event("heartbeat", session_id="d", ts=time.time() + 3600),  # from the future
        "not an object",
        _event("heartbeat", session_id="e", extra_field=1),  # unknown field
        _event("stop", session_id="a"),
    ]
    response = await gw.client.post("/v1/events", json={"events": batch})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] == 3
    assert [r["index"] for r in body["rejected"]] == [1, 2, 3, 5, 6, 7]
    assert any(e["loc"] == "bitrate_kbps" for e in body["rejected"][1]["errors"])
    assert body["rejected"][3]["errors"][0]["loc"] == "ts"
    assert _sample("streamgate_events_received_total", result="accepted") - accepted_before == 3
    assert _sample("streamgate_events_received_total", result="rejected") - rejected_before == 6

    await _processed(gw, 3)
    realtime = (await gw.client.get("/v1/analytics/realtime")).json()
    stats = realtime["sliding"]["contents"]["show1"]
    assert stats["events"] == 3
    assert stats["errors"] == 1
    assert stats["concurrent_viewers"] == 1  # a stopped; c is still playing (its error did not stop it)
    assert realtime["region"] == "local-b"

    all_bad = await gw.client.post("/v1/events", json={"events": [{"type": "nope"}]})
    assert all_bad.status_code == 422 and all_bad.json()["accepted"] == 0
    assert (await gw.client.post("/v1/events", content=b"{not json")).status_code == 400
    assert (await gw.client.post("/v1/events", json=[1, 2])).status_code == 400


async def test_aggregates_and_metrics(gw: Running) -> None:
    now = time.time()
    events = [
        _event(
            "start", session_id=f"v{i}", content_id="popular", ts=now - 1, bitrate_kbps=2000 + 1000 * (i % 2)
        )
        for i in range(4)
    ] + [
        _event("heartbeat", session_id="x", content_id="niche", played_seconds=6.0, buffering_seconds=2.0),
        _event(
            "error",
            session_id="x",
            content_id="niche",
            error_code="E_NET",
            played_seconds=0,
            buffering_seconds=0,
        ),
    ]
    assert (await gw.client.post("/v1/events", json={"events": events})).status_code == 202
    await _processed(gw, len(events))
    sliding = (await gw.client.get("/v1/analytics/realtime")).json()["sliding"]["contents"]
    assert sliding["popular"]["concurrent_viewers"] == 4
    assert sliding["popular"]["bitrate_bps"] == 2_500_000
    assert sliding["niche"]["rebuffer_ratio"] == 0.25
    assert sliding["niche"]["errors"] == 1

    text = (await gw.client.get("/metrics")).text
    assert (
        'streamgate_analytics_concurrent_viewers{color="green",content="popular",region="local-b",'
        'version="1.2.3",window="sliding"} 4.0' in text
    )
    assert 'streamgate_analytics_rebuffer_ratio{color="green",content="niche"' in text


async def test_queue_full_sheds_with_counted_503(make_gateway: AppFactory) -> None:
    gw = await make_gateway(events={"queue_max_events": 5})
    await gw.gateway.processor.stop(drain=False)  # nothing consumes: the queue must stay bounded
    shed_before = _sample("streamgate_events_shed_total")
    first = await gw.client.post(
        "/v1/events", json={"events": [_event(session_id=f"s{i}") for i in range(4)]}
    )
    assert first.status_code == 202
    second = await gw.client.post(
        "/v1/events", json={"events": [_event(session_id=f"t{i}") for i in range(3)]}
    )
    assert second.status_code == 503
    assert second.headers["retry-after"] == "1"
    assert second.json()["shed"] == 3
    assert _sample("streamgate_events_shed_total") - shed_before == 3
    assert len(gw.gateway.events) == 4
    depth = [
        line
        for line in (await gw.client.get("/metrics")).text.splitlines()
        if line.startswith("streamgate_events_queue_depth{")
    ]
    assert depth and depth[0].endswith(" 4.0")


async def test_viewer_token_required_when_configured(make_gateway: AppFactory) -> None:
    gw = await make_gateway(auth={"viewer_token_required": True})
    assert (await gw.client.post("/v1/events", json={"events": [_event()]})).status_code == 401
    ok = await gw.client.post("/v1/events", json={"events": [_event()]}, headers=gw.auth(Scope.VIEWER))
    assert ok.status_code == 202
    assert (await gw.client.get("/v1/analytics/realtime")).status_code == 401
    assert (await gw.client.get("/v1/analytics/realtime", headers=gw.auth(Scope.VIEWER))).status_code == 200
