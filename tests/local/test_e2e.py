"""End to end on the running platform: upload through the gateway's admin API, fetch through the edge
(second time from its cache), see it in Prometheus; an update purges the edge; Redis replicates."""

from __future__ import annotations

import hashlib
import time
import uuid

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from infra.local.gateway import request
from infra.local.platform import fetch
from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.local_platform
SEGMENT_ROUTE = "/v1/content/{id}/segments/{n}"


def test_upload_then_edge_miss_then_hit_and_prometheus_sees_it(lp: RunningPlatform) -> None:
    content = f"e2e-{uuid.uuid4().hex[:8]}"
    body = hashlib.sha256(content.encode()).digest() * 4096  # 128 KiB
    live = lp.gateway("local-a", "blue")
    stored = lp.admin.put(f"/v1/content/{content}/segments/0", body, "video/mp2t", base_url=live)
    assert stored["size"] == len(body)

    segment_gets = {"route": SEGMENT_ROUTE, "method": "GET", "status_class": "2xx"}
    before = scraped_sum(live, "streamgate_http_requests_total", segment_gets)
    hits_before = scraped_sum(live, "streamgate_cache_hits_total", {})

    url = f"{lp.edge}/v1/content/{content}/segments/0"
    first, second = fetch(url), fetch(url)
    assert (first.status, second.status) == (200, 200)
    assert first.sha256 == second.sha256 == hashlib.sha256(body).hexdigest()
    assert (first.edge_cache, second.edge_cache) == ("MISS", "HIT")
    assert first.gateway_tier in {"l1", "l2", "l3", "origin"}
    # The edge's HIT never reached the gateway: one GET of the segment route so far.
    assert scraped_sum(live, "streamgate_http_requests_total", segment_gets) == before + 1

    # A request straight at the gateway now hits its own cache (L1 after the MISS loaded it).
    status, direct = request("GET", f"{live}/v1/content/{content}/segments/0")
    assert status == 200 and direct == body
    requests_now = scraped_sum(live, "streamgate_http_requests_total", segment_gets)
    hits_now = scraped_sum(live, "streamgate_cache_hits_total", {})
    assert requests_now == before + 2
    assert hits_now > hits_before

    # Prometheus (HTTP API) sees the same counters once it has scraped them.
    sel = 'region="local-a",color="blue"'
    route = f'sum(streamgate_http_requests_total{{{sel},route="{SEGMENT_ROUTE}",method="GET",status_class="2xx"}})'
    assert lp.wait_for(route, lambda v: v is not None and v >= requests_now) == requests_now
    hits = lp.wait_for(
        f"sum(streamgate_cache_hits_total{{{sel}}})", lambda v: v is not None and v >= hits_now
    )
    assert hits is not None and hits >= hits_now


def scraped_sum(gateway: str, name: str, labels: dict[str, str]) -> float:
    """The sum of a counter's samples matching `labels`, read from the gateway's own /metrics."""
    status, text = request("GET", f"{gateway}/metrics")
    assert status == 200
    total = 0.0
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def test_an_update_purges_the_edge_through_the_gateway_cdn_hook(lp: RunningPlatform) -> None:
    content = f"purge-{uuid.uuid4().hex[:8]}"
    path = f"/v1/content/{content}/segments/1"
    lp.admin.put(path, b"old" * 1000, "video/mp2t")
    assert fetch(lp.edge + path).edge_cache == "MISS"
    assert fetch(lp.edge + path).edge_cache == "HIT"
    lp.admin.put(path, b"new" * 1000, "video/mp2t")  # the gateway sends PURGE <edge><path>
    again = fetch(lp.edge + path)
    assert again.edge_cache == "MISS"
    assert again.sha256 == hashlib.sha256(b"new" * 1000).hexdigest()


def test_a_write_in_local_a_is_readable_in_local_b(lp: RunningPlatform) -> None:
    primary = redis.Redis.from_url(lp.layout.redis_node_url("local-a"))
    replica = redis.Redis.from_url(lp.layout.redis_node_url("local-b"))
    through_b = redis.Redis.from_url(lp.layout.redis_url("local-b"))  # local-b's endpoint → primary
    try:
        key, value = f"e2e:{uuid.uuid4().hex}", uuid.uuid4().hex
        primary.set(key, value)
        assert primary.wait(1, 2000) == 1  # acknowledged by the replica
        assert replica.get(key) == value.encode()
        assert replica.info("replication")["role"] == "slave"
        with pytest.raises(redis.ReadOnlyError):
            replica.set(key, "nope")
        key2 = f"e2e:{uuid.uuid4().hex}"
        through_b.set(key2, "via-endpoint")  # writes in local-b go to the primary in local-a
        deadline = time.monotonic() + 5
        while replica.get(key2) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert primary.get(key2) == replica.get(key2) == b"via-endpoint"
    finally:
        for client in (primary, replica, through_b):
            client.close()
