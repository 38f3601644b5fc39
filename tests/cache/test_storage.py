"""ObjectStore against moto's S3 server."""

from __future__ import annotations

import uuid

import pytest

from runtime.storage import ObjectNotFoundError, ObjectStore
from tests.servers import MotoServer


async def test_put_get_head_range_exists_delete(store: ObjectStore) -> None:
    etag = await store.put("vod/1/seg-0001.ts", b"0123456789", content_type="video/mp2t", metadata={"v": "1"})
    assert etag
    assert await store.get("vod/1/seg-0001.ts") == b"0123456789"
    assert await store.get("vod/1/seg-0001.ts", byte_range=(2, 4)) == b"234"
    assert await store.get("vod/1/seg-0001.ts", byte_range=(7, None)) == b"789"
    info = await store.head("vod/1/seg-0001.ts")
    assert (info.key, info.size, info.etag, info.content_type) == (
        "vod/1/seg-0001.ts",
        10,
        etag,
        "video/mp2t",
    )
    assert info.metadata == {"v": "1"}
    assert await store.exists("vod/1/seg-0001.ts")
    await store.delete("vod/1/seg-0001.ts")
    assert not await store.exists("vod/1/seg-0001.ts")
    await store.delete("vod/1/seg-0001.ts")  # deleting a missing object is fine


async def test_missing_object_raises_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFoundError) as caught:
        await store.get("nope")
    assert caught.value.key == "nope"
    with pytest.raises(ObjectNotFoundError):
        await store.head("nope")


async def test_bad_range_is_rejected(store: ObjectStore) -> None:
    with pytest.raises(ValueError):
        await store.get("x", byte_range=(5, 1))


async def test_list_pages_and_prefix_isolation(store: ObjectStore, moto: MotoServer) -> None:
    for i in range(7):
        await store.put(f"a/{i:02d}", b"x" * i)
    await store.put("b/0", b"y")
    # Another store on the same bucket with another prefix sees none of these.
    other = ObjectStore(store.bucket, prefix="elsewhere", endpoint_url=moto.url, region="us-east-1")
    await other.put("a/99", b"z")
    listed = [info async for info in store.list("a/", page_size=3)]
    assert [i.key for i in listed] == [f"a/{i:02d}" for i in range(7)]
    assert [i.size for i in listed] == list(range(7))
    assert [i.key async for i in other.list()] == ["a/99"]
    await store.delete_many([f"a/{i:02d}" for i in range(7)])
    assert [i.key async for i in store.list()] == ["b/0"]
    other.close()


async def test_keys_with_leading_slash_round_trip(store: ObjectStore) -> None:
    await store.put("/live/ch1/seg-7.ts", b"seg")
    assert await store.get("/live/ch1/seg-7.ts") == b"seg"
    assert [i.key async for i in store.list("/live/")] == ["/live/ch1/seg-7.ts"]


async def test_ensure_bucket_is_idempotent_in_another_region(moto: MotoServer) -> None:
    s = ObjectStore(f"b-{uuid.uuid4().hex[:10]}", endpoint_url=moto.url, region="eu-west-1")
    await s.ensure_bucket()
    await s.ensure_bucket()
    await s.put("k", b"v")
    assert await s.get("k") == b"v"
    s.close()
