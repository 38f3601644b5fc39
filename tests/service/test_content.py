"""Content end to end: upload (admin + MFA) → fetch full and ranged → 304; updates never serve old bytes."""

from __future__ import annotations

import os

import boto3
import pytest
from prometheus_client import REGISTRY

from runtime.security.envelope.format import require_header
from runtime.service.tokens import Scope
from runtime.storage import ObjectStore
from tests.servers import MotoServer
from tests.service.conftest import AppFactory, Running

SEGMENT = os.urandom(256 * 1024)


async def test_upload_fetch_range_and_revalidate(gw: Running, moto: MotoServer) -> None:
    admin = await gw.step_up()
    put = await gw.client.put("/v1/content/show1/segments/0", content=SEGMENT, headers=admin)
    assert put.status_code == 200, put.text
    etag = put.json()["etag"]
    assert put.headers["etag"] == etag

    # Stored encrypted at rest: the origin object is not the plaintext and does not contain it.
    s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
    stored = s3.get_object(Bucket=gw.gateway.settings.storage.bucket, Key="content/show1/segments/0")[
        "Body"
    ].read()
    assert SEGMENT[:4096] not in stored and len(stored) > len(SEGMENT)

    first = await gw.client.get("/v1/content/show1/segments/0")
    assert first.status_code == 200
    assert first.content == SEGMENT
    assert first.headers["etag"] == etag and etag.startswith('"') and not etag.startswith("W/")
    assert first.headers["x-streamgate-cache"] == "origin"
    assert "immutable" in first.headers["cache-control"]
    assert first.headers["content-type"] == "video/mp2t"
    assert first.headers["accept-ranges"] == "bytes"

    second = await gw.client.get("/v1/content/show1/segments/0")
    assert second.headers["x-streamgate-cache"] == "l1"
    assert second.content == SEGMENT

    ranged = await gw.client.get("/v1/content/show1/segments/0", headers={"Range": "bytes=100-1099"})
    assert ranged.status_code == 206
    assert ranged.content == SEGMENT[100:1100]
    assert ranged.headers["content-range"] == f"bytes 100-1099/{len(SEGMENT)}"
    assert ranged.headers["content-length"] == "1000"

    suffix = await gw.client.get("/v1/content/show1/segments/0", headers={"Range": "bytes=-10"})
    assert suffix.status_code == 206 and suffix.content == SEGMENT[-10:]

    beyond = await gw.client.get("/v1/content/show1/segments/0", headers={"Range": f"bytes={len(SEGMENT)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(SEGMENT)}"

    stale_if_range = await gw.client.get(
        "/v1/content/show1/segments/0", headers={"Range": "bytes=0-9", "If-Range": '"other"'}
    )
    assert stale_if_range.status_code == 200 and stale_if_range.content == SEGMENT

    not_modified = await gw.client.get("/v1/content/show1/segments/0", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag

    changed = await gw.client.get("/v1/content/show1/segments/0", headers={"If-None-Match": '"nope"'})
    assert changed.status_code == 200


async def test_manifest_headers_and_missing_content(gw: Running) -> None:
    admin = await gw.step_up()
    manifest = b"#EXTM3U\n#EXT-X-TARGETDURATION:4\nsegments/0\n"
    put = await gw.client.put("/v1/content/show2/manifest", content=manifest, headers=admin)
    assert put.status_code == 200
    got = await gw.client.get("/v1/content/show2/manifest")
    assert got.content == manifest
    assert got.headers["cache-control"] == "public, max-age=2"
    assert got.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    # A public response is stored by shared caches and replayed to others: no per-client quota on it.
    assert not [name for name in got.headers if name.startswith("ratelimit-")]
    missing = await gw.client.get("/v1/content/nothing-here/segments/3")
    assert missing.status_code == 404
    assert int(missing.headers["ratelimit-limit"]) > 0  # errors are not public: they carry the quota
    assert (await gw.client.get("/v1/content/bad.id/manifest")).status_code == 404


async def test_an_unexpected_error_on_the_fast_path_answers_500_as_json(
    gw: Running, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(content_id: str, n: int | None = None) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(gw.gateway.content, "get", broken)
    got = await gw.client.get("/v1/content/show3/segments/1")
    assert got.status_code == 500
    assert got.json() == {"error": "internal error"}
    assert "ratelimit-remaining" in got.headers
    assert "unhandled error on GET /v1/content/show3/segments/1" in caplog.text
    assert "disk on fire" in caplog.text  # the traceback is logged, never sent


async def test_update_never_serves_old_content_from_any_tier(make_gateway: AppFactory) -> None:
    """Two instances (separate L1s) share Redis, the bucket and the L3 copy: after an update through one,
    neither serves the old bytes from L1, L2, L3 or the CDN."""
    a = await make_gateway()
    bucket = a.gateway.settings.storage.bucket
    b = await make_gateway(storage={"bucket": bucket})
    admin = await a.step_up()
    old, new = os.urandom(64 * 1024), os.urandom(64 * 1024)
    assert (await a.client.put("/v1/content/live/segments/7", content=old, headers=admin)).status_code == 200
    manifest_v1 = b"#EXTM3U\nsegments/7\n"
    assert (
        await a.client.put("/v1/content/live/manifest", content=manifest_v1, headers=admin)
    ).status_code == 200
    for instance in (a, b):  # fill L1 of both, L2 and L3
        for _ in range(2):
            assert (await instance.client.get("/v1/content/live/segments/7")).content == old
            assert (await instance.client.get("/v1/content/live/manifest")).content == manifest_v1
    l3_key = "v1/content/live/segments/7"
    assert await a.gateway.l3_store.exists(l3_key)  # type: ignore[union-attr]

    put = await b.client.put("/v1/content/live/segments/7", content=new, headers=admin)
    assert put.status_code == 200
    assert "v1/content/live/segments/7" in put.json()["invalidated"]
    for instance in (a, b):
        response = await instance.client.get("/v1/content/live/segments/7")
        assert response.content == new, response.headers["x-streamgate-cache"]

    # Replacing the manifest invalidates it and (dependency) its segments everywhere.
    manifest_v2 = b"#EXTM3U\nsegments/7\nsegments/8\n"
    put = await a.client.put("/v1/content/live/manifest", content=manifest_v2, headers=admin)
    assert set(put.json()["invalidated"]) >= {"v1/content/live/manifest", "v1/content/live/segments/7"}
    for instance in (a, b):
        assert (await instance.client.get("/v1/content/live/manifest")).content == manifest_v2
        seg = await instance.client.get("/v1/content/live/segments/7")
        assert seg.content == new


async def test_an_l3_copy_that_cannot_be_opened_is_a_miss(make_gateway: AppFactory) -> None:
    """An L3 copy sealed under a KMS key that is gone, or altered, reads as a miss: the origin answers, and a
    gateway whose start warms L1 from that copy still starts (it did not: the local platform once lost its
    KMS key while gateways kept sealing L3 copies with cached data keys)."""
    a = await make_gateway()
    bucket = a.gateway.settings.storage.bucket
    path, key = "/v1/content/show9/segments/1", "v1/content/show9/segments/1"
    body = os.urandom(32 * 1024)
    assert (await a.client.put(path, content=body, headers=await a.step_up())).status_code == 200
    for _ in range(3):
        assert (await a.client.get(path)).content == body
    store = a.gateway.l3_store
    assert store is not None and await store.exists(key)
    a.gateway.cache.access.record(key, 1000.0)  # the hottest key: a new gateway warms it from L3 as it starts
    await a.gateway.cache.access.flush()
    assert key in await a.gateway.cache.access.top(1)
    sealed = await ObjectStore.get(store, key)  # as stored, not opened
    header, used = require_header(sealed)
    gone = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000000"
    orphaned = header.with_key(gone, header.wrapped_key).encode() + sealed[used:]
    altered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    for blob in (orphaned, altered):
        await ObjectStore.put(store, key, blob)
        await a.gateway.cache.l2.delete([key])  # only L3 holds it now
        errors = REGISTRY.get_sample_value("streamgate_cache_l3_errors_total", {"op": "get"}) or 0
        b = await make_gateway(storage={"bucket": bucket}, cache={"warm_top_n": 10})
        got = await b.client.get(path)
        assert got.status_code == 200 and got.content == body
        assert got.headers["x-streamgate-cache"] == "origin"
        assert REGISTRY.get_sample_value("streamgate_cache_l3_errors_total", {"op": "get"}) == errors + 2


async def test_admin_write_requires_token_scope_and_mfa(gw: Running) -> None:
    url = "/v1/content/show3/manifest"
    assert (await gw.client.put(url, content=b"x")).status_code == 401
    viewer = await gw.client.put(url, content=b"x", headers=gw.auth(Scope.VIEWER))
    assert viewer.status_code == 403
    no_mfa = await gw.client.put(url, content=b"x", headers=gw.auth(Scope.ADMIN))
    assert no_mfa.status_code == 401
    assert "insufficient_user_authentication" in no_mfa.headers["www-authenticate"]
    totp = await gw.enroll()
    import time

    wrong = await gw.client.put(url, content=b"x", headers={**gw.auth(), "X-StreamGate-MFA": "000000"})
    assert wrong.status_code in (403, 429)
    code = totp.at(time.time() + 30)
    ok = await gw.client.put(url, content=b"x", headers={**gw.auth(), "X-StreamGate-MFA": code})
    assert ok.status_code == 200, ok.text
    replay = await gw.client.put(url, content=b"y", headers={**gw.auth(), "X-StreamGate-MFA": code})
    assert replay.status_code == 403  # the same code twice is refused
    forged = await gw.client.put(url, content=b"x", headers={"Authorization": "Bearer sg1.e30.AAAA"})
    assert forged.status_code == 401
    assert (await gw.client.get(url)).content == b"x"
