"""HLS content through the real gateway (redis-server, moto): rendition sets uploaded whole or object by
object, every path of the scheme served with its media type and caching, bad uploads refused with a 4xx
that says why, and CORS answered for allowed player origins only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.media import encode_rendition, files_of, master_playlist, tar_of
from tests.service.conftest import AppFactory, Running

TAR = {"Content-Type": "application/x-tar"}
PLAYER = "http://player.test"


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Two real renditions: `low` in MPEG-TS, `high` in fMP4 (init.mp4 + .m4s), 4 s each, and a master."""
    root = tmp_path_factory.mktemp("hls")
    encode_rendition(root, "low", seconds=4)
    encode_rendition(root, "high", seconds=4, fmp4=True, size="320x180")
    files = files_of(root)
    files["master.m3u8"] = master_playlist(("low", 300_000, "192x108"), ("high", 600_000, "320x180"))
    return files


async def test_a_rendition_set_is_stored_whole_and_every_path_serves(
    gw: Running, media: dict[str, bytes]
) -> None:
    admin = await gw.step_up()
    answer = await gw.client.post(
        "/v1/content/t1/renditions", content=tar_of(media), headers={**admin, **TAR}
    )
    assert answer.status_code == 200, answer.text
    stored = {o["key"] for o in answer.json()["objects"]}
    assert stored == {f"v1/content/t1/{name}" for name in media}
    assert answer.json()["size"] == sum(len(b) for b in media.values())
    types = {
        "master.m3u8": "application/vnd.apple.mpegurl",
        "low/index.m3u8": "application/vnd.apple.mpegurl",
        "low/0.ts": "video/mp2t",
        "high/init.mp4": "video/mp4",
        "high/1.m4s": "video/iso.segment",
    }
    for name, media_type in types.items():
        got = await gw.client.get(f"/v1/content/t1/{name}")
        assert got.status_code == 200 and got.content == media[name], name
        assert got.headers["content-type"] == media_type
        immutable = name.endswith((".ts", ".m4s", ".mp4"))
        assert ("immutable" in got.headers["cache-control"]) is immutable
        ranged = await gw.client.get(f"/v1/content/t1/{name}", headers={"Range": "bytes=2-9"})
        assert ranged.status_code == 206 and ranged.content == media[name][2:10]
    assert (await gw.client.get("/v1/content/t1/low/9.ts")).status_code == 404
    assert (await gw.client.get("/v1/content/t1/low/09.ts")).status_code == 404


async def test_the_first_scheme_keeps_working_beside_the_new_one(
    gw: Running, media: dict[str, bytes]
) -> None:
    admin = await gw.step_up()
    old = await gw.client.put("/v1/content/t2/segments/0", content=b"not checked", headers=admin)
    assert old.status_code == 200, old.text
    assert (await gw.client.get("/v1/content/t2/segments/0")).content == b"not checked"
    new = await gw.client.put("/v1/content/t2/low/0.ts", content=media["low/0.ts"], headers=admin)
    assert new.status_code == 200, new.text
    assert (await gw.client.get("/v1/content/t2/low/0.ts")).content == media["low/0.ts"]


async def test_objects_uploaded_one_by_one_in_order_and_a_playlist_update(
    gw: Running, media: dict[str, bytes]
) -> None:
    admin = await gw.step_up()
    playlist = media["low/index.m3u8"]
    early = await gw.client.put("/v1/content/t3/low/index.m3u8", content=playlist, headers=admin)
    assert early.status_code == 409
    assert "low/0.ts, t3/low/1.ts, which are not stored" in early.json()["error"]
    assert "upload segments before the playlists" in early.json()["error"]
    for name in ("low/0.ts", "low/1.ts"):
        put = await gw.client.put(f"/v1/content/t3/{name}", content=media[name], headers=admin)
        assert put.status_code == 200, put.text
    assert (
        await gw.client.put("/v1/content/t3/low/index.m3u8", content=playlist, headers=admin)
    ).status_code == 200
    assert (await gw.client.get("/v1/content/t3/low/index.m3u8")).content == playlist
    master = master_playlist(("low", 300_000, "192x108"))
    assert (
        await gw.client.put("/v1/content/t3/master.m3u8", content=master, headers=admin)
    ).status_code == 200
    # A live-style update: the next version of the playlist is served at once (the cache was invalidated).
    slid = playlist.replace(b"#EXT-X-MEDIA-SEQUENCE:0", b"#EXT-X-MEDIA-SEQUENCE:1")
    slid = slid.replace(b"#EXTINF:2.000000,\n0.ts\n", b"", 1)
    assert slid != playlist
    assert (
        await gw.client.put("/v1/content/t3/low/index.m3u8", content=slid, headers=admin)
    ).status_code == 200
    assert (await gw.client.get("/v1/content/t3/low/index.m3u8")).content == slid
    assert (await gw.client.get("/v1/content/t3/low/0.ts")).content == media["low/0.ts"]  # not purged


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        # A manifest naming a segment that does not exist.
        (lambda f: f.pop("low/1.ts"), 409, "t4/low/index.m3u8 names t4/low/1.ts, which is not stored"),
        # A variant without BANDWIDTH.
        (
            lambda f: f.update({"master.m3u8": f["master.m3u8"].replace(b"BANDWIDTH=300000,", b"")}),
            422,
            "master.m3u8 line 3: variant without BANDWIDTH",
        ),
        (lambda f: f.pop("high/index.m3u8"), 409, "t4/master.m3u8 names t4/high/index.m3u8"),
        (lambda f: f.pop("high/init.mp4"), 409, "names t4/high/init.mp4"),
        (lambda f: f.update({"low/0.ts": f["high/0.m4s"]}), 422, "t4/low/0.ts: not MPEG-TS"),
        (lambda f: f.update({"high/0.m4s": f["low/0.ts"]}), 422, "t4/high/0.m4s: not ISO BMFF"),
        (lambda f: f.update({"notes.txt": b"hi"}), 422, "notes.txt: not part of a rendition set"),
        (lambda f: f.update({"../t5/master.m3u8": f["master.m3u8"]}), 422, "not part of a rendition set"),
        (lambda f: f.update({"low/index.m3u8": b"#EXTM3U\n#EXTINF:2,\n0.ts\n"}), 422, "TARGETDURATION"),
    ],
)
async def test_bad_rendition_sets_are_refused_whole_with_a_clear_message(
    gw: Running, media: dict[str, bytes], change: object, status: int, message: str
) -> None:
    files = dict(media)
    change(files)  # type: ignore[operator]
    admin = await gw.step_up()
    answer = await gw.client.post(
        "/v1/content/t4/renditions", content=tar_of(files), headers={**admin, **TAR}
    )
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]
    for name in ("master.m3u8", "low/0.ts", "low/index.m3u8"):  # nothing of a refused set is stored
        assert (await gw.client.get(f"/v1/content/t4/{name}")).status_code == 404


async def test_uploads_that_are_not_a_set_or_not_allowed(gw: Running, media: dict[str, bytes]) -> None:
    admin = await gw.step_up()
    url = "/v1/content/t6/renditions"
    assert (await gw.client.post(url, content=b"x" * 1024, headers={**admin, **TAR})).status_code == 422
    zipped = await gw.client.post(
        url, content=tar_of(media), headers={**admin, "Content-Type": "application/zip"}
    )
    assert zipped.status_code == 415 and "application/x-tar" in zipped.json()["error"]
    assert (await gw.client.post(url, content=tar_of(media), headers=TAR)).status_code == 401
    bad_ts = await gw.client.put("/v1/content/t6/low/0.ts", content=b"<html>", headers=admin)
    assert bad_ts.status_code == 422 and "not MPEG-TS" in bad_ts.json()["error"]
    no_bw = media["master.m3u8"].replace(b"BANDWIDTH=600000,", b"")
    refused = await gw.client.put("/v1/content/t6/master.m3u8", content=no_bw, headers=admin)
    assert refused.status_code == 422 and "variant without BANDWIDTH" in refused.json()["error"]


async def test_a_set_larger_than_the_limit_is_refused(
    make_gateway: AppFactory, media: dict[str, bytes]
) -> None:
    gw = await make_gateway(content={"max_rendition_set_bytes": 10_000})
    admin = await gw.step_up()
    answer = await gw.client.post(
        "/v1/content/t7/renditions", content=tar_of(media), headers={**admin, **TAR}
    )
    assert answer.status_code == 413


async def test_cors_for_allowed_player_origins_only(
    make_gateway: AppFactory, media: dict[str, bytes]
) -> None:
    gw = await make_gateway(cors={"allow_origins": [PLAYER, "http://127.0.0.1:*"]})
    admin = await gw.step_up()
    await gw.client.post("/v1/content/c1/renditions", content=tar_of(media), headers={**admin, **TAR})
    for origin in (PLAYER, "http://127.0.0.1:5173"):
        got = await gw.client.get(
            "/v1/content/c1/low/0.ts", headers={"Origin": origin, "Range": "bytes=0-99"}
        )
        assert got.status_code == 206
        assert got.headers["access-control-allow-origin"] == origin
        exposed = {h.strip() for h in got.headers["access-control-expose-headers"].split(",")}
        assert {"Content-Range", "ETag"} <= exposed
        assert got.headers["vary"] == "Origin"
    for refused in ("http://evil.test", "null", "http://player.test.evil.test"):
        got = await gw.client.get("/v1/content/c1/master.m3u8", headers={"Origin": refused})
        assert got.status_code == 200 and "access-control-allow-origin" not in got.headers
        assert got.headers["vary"] == "Origin"
    plain = await gw.client.get("/v1/content/c1/master.m3u8")  # no Origin (ffmpeg): the answer still varies
    assert plain.headers["vary"] == "Origin" and "access-control-allow-origin" not in plain.headers
    # An error is readable by the player too (hls.js reports its status).
    missing = await gw.client.get("/v1/content/c1/low/9.ts", headers={"Origin": PLAYER})
    assert missing.status_code == 404 and missing.headers.get_list("access-control-allow-origin") == [PLAYER]
    outside = await gw.client.get("/v1/content/c1/low/09.ts", headers={"Origin": PLAYER})  # behind the router
    assert outside.status_code == 404 and outside.headers.get_list("access-control-allow-origin") == [PLAYER]
    # Preflight of a ranged, conditional request.
    preflight = await gw.client.options(
        "/v1/content/c1/low/0.ts",
        headers={
            "Origin": PLAYER,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range, if-none-match",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == PLAYER
    allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"range", "if-none-match", "if-range"} <= allowed
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert int(preflight.headers["access-control-max-age"]) > 0
    refused_preflight = await gw.client.options(
        "/v1/content/c1/low/0.ts",
        headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in refused_preflight.headers
    # Routes behind the router (playback events) answer CORS the same way.
    events = await gw.client.post("/v1/events", json={"events": []}, headers={"Origin": PLAYER})
    assert events.headers["access-control-allow-origin"] == PLAYER


async def test_without_an_allow_list_there_is_no_cors(gw: Running, media: dict[str, bytes]) -> None:
    admin = await gw.step_up()
    await gw.client.put("/v1/content/c2/low/0.ts", content=media["low/0.ts"], headers=admin)
    got = await gw.client.get("/v1/content/c2/low/0.ts", headers={"Origin": PLAYER})
    assert got.status_code == 200
    assert "access-control-allow-origin" not in got.headers and "vary" not in got.headers
    # OPTIONS still gets a 2xx: CloudFront forwards preflights to the origin and adds CORS itself.
    options = await gw.client.options(
        "/v1/content/c2/low/0.ts", headers={"Access-Control-Request-Method": "GET"}
    )
    assert options.status_code == 204 and "GET" in options.headers["allow"]


def test_the_media_fixture_is_real_hls(media: dict[str, bytes], tmp_path: Path) -> None:
    from runtime.service.hls import parse_media

    assert parse_media(media["low/index.m3u8"]).segments == ["0.ts", "1.ts"]
    assert parse_media(media["high/index.m3u8"]).names == ["init.mp4", "0.m4s", "1.m4s"]
