"""The router adapter on the real nginx: weights written, reloaded, read back, and obeyed; health-based
failover between regions; the Redis endpoint repointed."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter

import pytest

from infra.local.errors import InvalidWeightsError
from infra.local.gateway import request
from infra.local.nginx import REGIONS
from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.local_platform


def served_by(url: str, n: int) -> Counter[tuple[str, str]]:
    seen: Counter[tuple[str, str]] = Counter()
    for _ in range(n):
        with urllib.request.urlopen(f"{url}/version", timeout=5) as response:
            doc = json.loads(response.read())
        seen[(doc["region"], doc["color"])] += 1
    return seen


def test_color_weights_are_applied_and_read_back(lp: RunningPlatform) -> None:
    router = lp.router
    try:
        state = router.write_weights("local-a", {"blue": 75, "green": 25})
        assert router.read_weights("local-a") == {"blue": 75, "green": 25}
        assert router.loaded_state() == state  # what the running nginx serves at /-/weights
        # Weighted round robin is exact over a full cycle: 3 blue for every green, right after the reload.
        assert served_by(lp.layout.url(lp.layout.region("local-a").router), 40) == Counter(
            {("local-a", "blue"): 30, ("local-a", "green"): 10}
        )
    finally:
        router.write_weights("local-a", {"blue": 100, "green": 0})
    assert served_by(lp.edge, 5) == Counter({("local-a", "blue"): 5})


def test_invalid_weights_change_nothing(lp: RunningPlatform) -> None:
    before = lp.router.loaded_state()
    with pytest.raises(InvalidWeightsError):
        lp.router.write_weights(REGIONS, {"local-a": 0, "local-b": 0})
    assert lp.router.loaded_state() == before
    assert lp.router.read_state() == before


def test_region_weights_shift_traffic_and_a_failing_region_fails_over(lp: RunningPlatform) -> None:
    router, sup = lp.router, lp.platform.supervisor
    try:
        router.write_weights(REGIONS, {"local-a": 0, "local-b": 100})
        assert served_by(lp.edge, 6) == Counter({("local-b", "blue"): 6})
        router.write_weights(REGIONS, {"local-a": 100, "local-b": 0})  # local-b on standby
        assert served_by(lp.edge, 3) == Counter({("local-a", "blue"): 3})
        sup.stop_process("gateway-local-a-blue")  # the live color of local-a is gone
        status, body = request("GET", f"{lp.edge}/version")
        assert status == 200 and json.loads(body)["region"] == "local-b"  # health-based failover
    finally:
        sup.start_process("gateway-local-a-blue", wait=True)
        router.write_weights(REGIONS, {"local-a": 100, "local-b": 0})
    lp.platform.up()  # waits until the restarted gateway is healthy again


def test_redis_endpoint_can_be_repointed(lp: RunningPlatform) -> None:
    import redis

    router = lp.router
    endpoint = redis.Redis.from_url(lp.layout.redis_url("local-a"))
    try:
        assert endpoint.info("server")["tcp_port"] == lp.layout.region("local-a").redis
        state = router.write_redis_primary("local-b")  # (a failover would promote local-b first)
        assert state.redis_primary == "local-b" == router.read_redis_primary()
        fresh = redis.Redis.from_url(lp.layout.redis_url("local-a"))
        assert fresh.info("server")["tcp_port"] == lp.layout.region("local-b").redis
        fresh.close()
    finally:
        router.write_redis_primary("local-a")
        endpoint.close()
    assert (
        redis.Redis.from_url(lp.layout.redis_url("local-b")).info("server")["tcp_port"]
        == lp.layout.primary.redis
    )
