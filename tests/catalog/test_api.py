"""The catalog API on a real gateway (Redis, moto) over a real primary and streaming replica: pages,
search, details with renditions, segments, bad input, admin writes with step-up, invalidation across
instances, read-your-writes, and the number of queries each request costs (no N+1)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from runtime.catalog import cursor
from runtime.service.tokens import Scope
from tests.catalog.conftest import Pair
from tests.service.conftest import AppFactory, Running

POSITION = "X-StreamGate-Catalog-Position"


async def _all_pages(client: httpx.AsyncClient, url: str, limit: int, **query: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params = {**query, "limit": str(limit), **({"after": after} if after else {})}
        response = await client.get(url, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        after = page["next"]
        if after is None:
            return items


async def test_pages_walk_every_available_title_once_in_name_order(
    catalog_gw: Running, catalog_pair: Pair
) -> None:
    items = await _all_pages(catalog_gw.client, "/v1/catalog/titles", 7)
    keys = [(i["name"], i["id"]) for i in items]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    expected = catalog_pair.primary.sql(
        "SELECT count(*) FROM titles t JOIN availability a ON a.title_id = t.id AND a.region = 'local-a'"
    )
    assert len(items) == int(expected) > 7


async def test_search_needs_every_word_and_pages(catalog_gw: Running, catalog_pair: Pair) -> None:
    word = catalog_pair.primary.sql(
        "SELECT term FROM title_words GROUP BY term ORDER BY count(*) DESC, term LIMIT 1"
    )
    items = await _all_pages(catalog_gw.client, "/v1/catalog/titles", 2, q=word)
    assert items and all(word in i["name"].lower().split() for i in items)
    other = items[0]["name"].lower().split()
    both = " ".join(dict.fromkeys([word, *other]))
    found = (await catalog_gw.client.get("/v1/catalog/titles", params={"q": both.upper()})).json()["items"]
    assert items[0]["id"] in [i["id"] for i in found]
    assert all(set(both.split()) <= set(i["name"].lower().split()) for i in found)
    none = await catalog_gw.client.get("/v1/catalog/titles", params={"q": "zzzznotaword"})
    assert none.json() == {"items": [], "next": None}


async def test_title_detail_has_renditions_and_segments_resolve(catalog_gw: Running) -> None:
    response = await catalog_gw.client.get("/v1/catalog/titles/m0000021")
    assert response.status_code == 200, response.text
    title = response.json()
    assert title["id"] == "m0000021" and title["regions"] == ["local-a", "local-b"]
    assert [r["name"] for r in title["renditions"]] == ["360p", "720p"]
    assert title["renditions"][1] == {
        "name": "720p",
        "container": "ts",
        "bandwidth": 2_800_000,
        "resolution": "1280x720",
        "codecs": "avc1.64001f,mp4a.40.2",
        "target_duration": 4,
        "segment_count": 5,
    }
    assert title["master"] == "/v1/content/m0000021/master.m3u8"
    segment = await catalog_gw.client.get("/v1/catalog/titles/m0000021/renditions/720p/segments/4")
    assert segment.status_code == 200 and segment.json()["seq"] == 4
    assert len(segment.json()["sha256"]) == 64
    missing = await catalog_gw.client.get("/v1/catalog/titles/m0000021/renditions/720p/segments/5")
    assert missing.status_code == 404 and "no segment 5" in missing.json()["error"]


async def test_bad_input_is_a_clear_4xx(catalog_gw: Running) -> None:
    client = catalog_gw.client
    cases = {
        "/v1/catalog/titles/nosuchtitle": (404, "no title 'nosuchtitle' available in local-a"),
        "/v1/catalog/titles?after=%%%": (400, "invalid cursor"),
        "/v1/catalog/titles?after=WyJ4Il0": (400, "invalid cursor"),
        "/v1/catalog/titles?limit=100000": (422, "limit must be an integer from 1 to 200"),
        "/v1/catalog/titles?limit=0": (422, "limit must be"),
        "/v1/catalog/titles?limit=%C2%B2": (422, "limit must be"),  # a digit, but not an ASCII one
        "/v1/catalog/titles?limit=" + "9" * 5000: (422, "limit must be"),
        "/v1/catalog/titles?offset=5000": (400, "unknown query parameter(s): offset"),
        "/v1/catalog/titles?q=" + "x" * 101: (422, "q must be 1 to 100 characters"),
        "/v1/catalog/titles/bad.id": (400, "invalid title id"),
        "/v1/catalog/titles/m0000021/renditions/720p/segments/x1": (400, "invalid segment number"),
        "/v1/catalog/titles/m0000021/renditions/720p/segments/" + "9" * 5000: (404, "no segment"),
        # A forged cursor (cursors are opaque, not signed) with a key no int4 parameter holds.
        "/v1/catalog/titles/s0000001/episodes?after=" + cursor.encode((1 << 40, 1), "s0000001"): (
            400,
            "invalid cursor",
        ),
    }
    for url, (status, message) in cases.items():
        response = await client.get(url)
        assert response.status_code == status, (url, response.text)
        assert message in response.json()["error"], (url, response.text)
    page = (await client.get("/v1/catalog/titles", params={"q": "storm", "limit": "1"})).json()
    if page["next"]:  # a cursor of one search is refused by another
        other = await client.get("/v1/catalog/titles", params={"q": "river", "after": page["next"]})
        assert other.status_code == 400 and "another query" in other.json()["error"]
    for position in (b"abc", b"\xb2", b"9" * 30):
        stale = await client.get("/v1/catalog/titles/m0000021", headers={POSITION: position})
        assert stale.status_code == 400 and POSITION in stale.json()["error"], position


async def test_region_availability_is_enforced(make_gateway: AppFactory, catalog_pair: Pair) -> None:
    only_a = catalog_pair.primary.sql(
        "SELECT t.slug FROM titles t WHERE NOT EXISTS (SELECT 1 FROM availability a WHERE a.title_id = t.id "
        "AND a.region = 'local-b') ORDER BY t.slug LIMIT 1"
    )
    gw_b = await make_gateway(region="local-b", catalog=catalog_pair.settings())
    gw_a = await make_gateway(region="local-a", catalog=catalog_pair.settings())
    assert (await gw_a.client.get(f"/v1/catalog/titles/{only_a}")).status_code == 200
    refused = await gw_b.client.get(f"/v1/catalog/titles/{only_a}")
    assert refused.status_code == 404 and "available in local-b" in refused.json()["error"]
    listed_b = {i["id"] for i in await _all_pages(gw_b.client, "/v1/catalog/titles", 200)}
    assert only_a not in listed_b


async def test_queries_per_request_one_then_none_from_the_cache(catalog_gw: Running) -> None:
    db = catalog_gw.gateway.catalog.db  # type: ignore[union-attr]
    for url in (
        "/v1/catalog/titles?limit=50",
        "/v1/catalog/titles?q=storm&limit=50",
        "/v1/catalog/titles/m0000022",
        "/v1/catalog/titles/s0000001/episodes",
        "/v1/catalog/titles/m0000022/renditions/360p/segments/2",
    ):
        before = db.queries
        first = await catalog_gw.client.get(url)
        assert first.status_code == 200, (url, first.text)
        assert db.queries - before == 1, f"{url}: {db.queries - before} queries (N+1?)"
        before = db.queries
        second = await catalog_gw.client.get(url)
        assert second.json() == first.json() and second.headers["X-StreamGate-Cache"] == "l1"
        assert db.queries == before


async def test_the_title_list_fast_path_serves_only_query_strings_found_valid(catalog_gw: Running) -> None:
    # The route answers an L1 hit by the raw query string, before parsing it: two spellings of one page
    # are each parsed once (the second from the cache), then answered unparsed, without a query.
    client, db = catalog_gw.client, catalog_gw.gateway.catalog.db  # type: ignore[union-attr]
    spellings = ("/v1/catalog/titles?limit=3", "/v1/catalog/titles?limit=%33")  # %33 is "3"
    before = db.queries
    pages = [await client.get(url) for url in spellings + spellings]
    assert [p.status_code for p in pages] == [200] * 4
    assert [p.headers["X-StreamGate-Cache"] for p in pages] == ["loader", "l1", "l1", "l1"]
    assert all(p.json() == pages[0].json() for p in pages) and db.queries - before == 1
    catalog = catalog_gw.gateway.catalog
    assert catalog is not None and catalog.cached_titles(b"limit=%33") == pages[0].content
    # Strings one step away from a cached one still get their own verdict.
    for url, status in (
        (spellings[0] + "&offset=1", 400),
        ("/v1/catalog/titles?limit=300", 422),
        ("/v1/catalog/titles?q=storm&limit=3&after=" + pages[0].json()["next"], 400),  # another query's
    ):
        assert (await client.get(url)).status_code == status, url
        assert catalog.cached_titles(url.partition("?")[2].encode()) is None, url


async def test_admin_writes_need_mfa_step_up(catalog_gw: Running) -> None:
    body = {"name": "Nova", "kind": "movie", "regions": ["local-a"]}
    plain = await catalog_gw.client.put("/v1/catalog/titles/nova", json=body, headers=catalog_gw.auth())
    assert plain.status_code == 401 and "MFA step-up required" in plain.json()["error"]
    viewer = await catalog_gw.client.put(
        "/v1/catalog/titles/nova", json=body, headers=catalog_gw.auth(Scope.VIEWER)
    )
    assert viewer.status_code == 403
    admin = await catalog_gw.step_up()
    created = await catalog_gw.client.put("/v1/catalog/titles/nova", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert int(created.headers[POSITION]) > 0
    invalid = await catalog_gw.client.put(
        "/v1/catalog/titles/nova", json={**body, "kind": "opera"}, headers=admin
    )
    assert invalid.status_code == 422 and invalid.json()["error"].startswith("kind:")
    stale = await catalog_gw.client.put(
        "/v1/catalog/titles/nova", json={**body, "version": 99}, headers=admin
    )
    assert stale.status_code == 409 and "changed since version 99" in stale.json()["error"]
    # Hostile forms answer 4xx at a bounded cost: no int() of thousands of digits, no non-ASCII digits.
    for if_match, status in ((b'"99"', 409), (b"W/x", 400), (b"9" * 5000, 409), (b"\xb2", 400)):
        answered = await catalog_gw.client.put(
            "/v1/catalog/titles/nova", json=body, headers={**admin, "If-Match": if_match}
        )
        assert answered.status_code == status, (if_match, answered.text)
    nested = await catalog_gw.client.put(
        "/v1/catalog/titles/nova",
        content=b"[" * 60_000,  # within the body limit, deeper than the parser recurses
        headers={**admin, "Content-Type": "application/json"},
    )
    assert nested.status_code == 400 and "JSON" in nested.json()["error"]
    orphan = await catalog_gw.client.put(
        "/v1/catalog/titles/ep1", json={"name": "E", "kind": "episode", "parent": "nosuch"}, headers=admin
    )
    assert orphan.status_code == 422 and "no such series" in orphan.json()["error"]


async def test_a_write_invalidates_pages_and_details_on_every_instance(
    make_gateway: AppFactory, catalog_pair: Pair
) -> None:
    reader = await make_gateway(region="local-a", catalog=catalog_pair.settings())
    writer = await make_gateway(region="local-a", catalog=catalog_pair.settings())
    before = (await reader.client.get("/v1/catalog/titles/m0000023")).json()
    page = (await reader.client.get("/v1/catalog/titles", params={"limit": "200"})).json()
    assert (await reader.client.get("/v1/catalog/titles/m0000023")).headers["X-StreamGate-Cache"] == "l1"
    admin = await writer.step_up()
    renamed = await writer.client.put(
        "/v1/catalog/titles/m0000023",
        json={"name": "Aaaa First", "kind": "movie", "version": before["version"]},
        headers=admin,
    )
    assert renamed.status_code == 200, renamed.text

    async def seen() -> bool:
        detail = (await reader.client.get("/v1/catalog/titles/m0000023")).json()
        first = (await reader.client.get("/v1/catalog/titles", params={"limit": "200"})).json()["items"][0]
        return detail["name"] == "Aaaa First" and first["id"] == "m0000023"

    for _ in range(100):  # the invalidation reaches the reader over Redis pub/sub
        if await seen():
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the reader kept serving the old title")
    assert page["items"][0]["id"] != "m0000023"


async def test_renditions_written_then_read_back_by_the_writer(catalog_gw: Running) -> None:
    admin = await catalog_gw.step_up()
    client = catalog_gw.client
    await client.put(
        "/v1/catalog/titles/fresh",
        json={"name": "Fresh", "kind": "movie", "regions": ["local-a"]},
        headers=admin,
    )
    segments = [{"duration_ms": 4000, "size_bytes": 1000 + i, "sha256": f"{i:064x}"} for i in range(3)]
    rendition = {
        "container": "fmp4",
        "bandwidth": 900_000,
        "resolution": "640x360",
        "codecs": "avc1.64001e",
        "target_duration": 4,
        "segments": segments,
    }
    written = await client.put("/v1/catalog/titles/fresh/renditions/low", json=rendition, headers=admin)
    assert written.status_code == 200, written.text
    detail = await client.get("/v1/catalog/titles/fresh", headers={POSITION: written.headers[POSITION]})
    assert [r["name"] for r in detail.json()["renditions"]] == ["low"]
    seg = await client.get("/v1/catalog/titles/fresh/renditions/low/segments/2")
    assert seg.json()["size_bytes"] == 1002 and seg.json()["container"] == "fmp4"
    missing = await client.put("/v1/catalog/titles/nosuch/renditions/low", json=rendition, headers=admin)
    assert missing.status_code == 404 and "create it first" in missing.json()["error"]
    deleted = await client.delete("/v1/catalog/titles/fresh", headers=admin)
    assert deleted.status_code == 200
    assert (await client.get("/v1/catalog/titles/fresh")).status_code == 404


async def test_content_segments_need_a_catalog_entry_when_enforced(
    make_gateway: AppFactory, catalog_pair: Pair
) -> None:
    gw = await make_gateway(region="local-a", catalog=catalog_pair.settings(enforce_on_content=True))
    admin = await gw.step_up()
    body = b"\x47" + bytes(187)  # one MPEG-TS packet
    for path in ("/v1/content/m0000024/360p/0.ts", "/v1/content/unlisted/360p/0.ts"):
        stored = await gw.client.put(path, content=body, headers=admin)
        assert stored.status_code == 200, stored.text
    assert (await gw.client.get("/v1/content/m0000024/360p/0.ts")).content == body
    refused = await gw.client.get("/v1/content/unlisted/360p/0.ts")
    assert refused.status_code == 404 and "not in the catalog of local-a" in refused.json()["error"]
    beyond = await gw.client.get("/v1/content/m0000024/360p/9.ts")
    assert beyond.status_code == 404
