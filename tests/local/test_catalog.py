"""The catalog on the running platform: PostgreSQL primary in local-a, streaming replica in local-b, both
under supervisord and in `status`; the sample title registered by `up`; a catalog write through local-b's
gateway lands on the primary (the multi-host writer URL) and is read back at its position in both regions."""

from __future__ import annotations

import json
import uuid

import pytest

from infra import http
from infra.catalog.postgres import psql
from infra.local import catalog
from infra.local.gateway import request
from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.local_platform
POSITION = "X-StreamGate-Catalog-Position"


def test_primary_and_replica_run_under_supervisord_and_in_status(lp: RunningPlatform) -> None:
    platform = lp.platform
    parts = {p.name: p for p in platform.status()}
    for region in platform.layout.region_names:
        part = parts[catalog.program(region)]
        assert part.state == "RUNNING" and part.healthy, part
    a, b = (platform.layout.region(r) for r in ("local-a", "local-b"))
    paths = platform.paths
    assert psql(a.postgres, catalog.socket_dir(paths, "local-a"), "SELECT pg_is_in_recovery()") == "f"
    assert psql(b.postgres, catalog.socket_dir(paths, "local-b"), "SELECT pg_is_in_recovery()") == "t"
    streaming = psql(
        a.postgres, catalog.socket_dir(paths, "local-a"), "SELECT state FROM pg_stat_replication"
    )
    assert streaming == "streaming"


def test_the_sample_is_in_the_catalog_with_its_renditions(lp: RunningPlatform) -> None:
    status, body = request("GET", f"{lp.edge}/v1/catalog/titles/sample")
    assert status == 200, body
    title = json.loads(body)
    assert [r["name"] for r in title["renditions"]] == ["360p", "540p", "720p"]
    assert title["regions"] == ["local-a", "local-b"]


def test_a_write_through_local_b_is_read_back_in_both_regions(lp: RunningPlatform) -> None:
    admin = lp.admin
    slug = f"e2e-{uuid.uuid4().hex[:8]}"
    b = lp.gateway("local-b", "blue")
    headers = {"Authorization": f"Bearer {admin.step_up(b)}", "Content-Type": "application/json"}
    body = json.dumps({"name": "Regional", "kind": "movie", "regions": ["local-a", "local-b"]}).encode()
    written = http.send("PUT", f"{b}/v1/catalog/titles/{slug}", body=body, headers=headers, timeout=10)
    assert written.status == 201, written.body
    position = written.headers[POSITION]  # the primary's WAL position after the commit
    assert int(position) > 0
    for region in ("local-a", "local-b"):  # read-your-writes: served at that position or later, at once
        gateway = lp.gateway(region, "blue")
        seen = request("GET", f"{gateway}/v1/catalog/titles/{slug}", headers={POSITION: position})
        assert seen[0] == 200 and json.loads(seen[1])["name"] == "Regional"
    status, _ = request("DELETE", f"{b}/v1/catalog/titles/{slug}", headers=headers)
    assert status == 200
