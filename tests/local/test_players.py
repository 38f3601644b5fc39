"""Real players on the running platform, through the edge (nginx, the CDN's analog): ffmpeg with its
default options, hls.js in Debian's headless Chromium on another origin, and ffmpeg following a live
playlist as segments are uploaded. Nothing here wrote them; what they decode is compared with the source."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.local.gateway import request
from infra.local.playback import Playback, play
from infra.local.sample import FPS, MASTER, RENDITIONS, SEGMENT_SECONDS
from tests.local.player import PlayerPage, chromium_driver, player_page
from tests.local_platform import RunningPlatform
from tests.media import encode_rendition, ffmpeg, files_of, master_playlist, tar_of

pytestmark = pytest.mark.local_platform


def test_ffmpeg_plays_every_rendition_through_the_edge_frame_for_frame(lp: RunningPlatform) -> None:
    sample = lp.platform.sample
    played = play(f"{lp.edge}{sample.path(MASTER)}", ffmpeg())
    source = play(str(sample.root / MASTER), ffmpeg())
    frames = FPS * SEGMENT_SECONDS * lp.platform.cfg.local.sample_segments
    assert played.video_frames == {f"{r.width}x{r.height}": frames for r in RENDITIONS}
    assert sorted(played.media.values()).count("audio") == len(RENDITIONS)
    assert played.frames == source.frames  # every frame of every stream, bit for bit (framemd5)


def test_ffmpeg_plays_an_fmp4_rendition_set_uploaded_through_the_edge(
    lp: RunningPlatform, tmp_path: Path
) -> None:
    root = tmp_path / "cmaf"
    encode_rendition(root, "low", seconds=2 * SEGMENT_SECONDS, fmp4=True)
    encode_rendition(root, "high", seconds=2 * SEGMENT_SECONDS, fmp4=True, size="320x180")
    files = files_of(root)
    files["master.m3u8"] = master_playlist(("low", 300_000, "192x108"), ("high", 600_000, "320x180"))
    (root / "master.m3u8").write_bytes(files["master.m3u8"])
    content = f"cmaf-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {lp.admin.step_up()}", "Content-Type": "application/x-tar"}
    status, body = request("POST", f"{lp.edge}/v1/content/{content}/renditions", tar_of(files), headers)
    assert status == 200, body
    played = play(f"{lp.edge}/v1/content/{content}/master.m3u8", ffmpeg())
    assert played.video_frames == {"192x108": 2 * SEGMENT_SECONDS * FPS, "320x180": 2 * SEGMENT_SECONDS * FPS}
    assert played.frames == play(str(root / "master.m3u8"), ffmpeg()).frames


def _log_lines(lp: RunningPlatform, path: str) -> list[str]:
    log = lp.platform.paths.log("nginx-access")
    return [line for line in log.read_text().splitlines() if f" {path} " in line]


def test_ffmpeg_seeks_through_the_edge_with_range_requests(lp: RunningPlatform) -> None:
    sample = lp.platform.sample
    seek = SEGMENT_SECONDS + 0.5
    played = play(f"{lp.edge}{sample.path(MASTER)}", ffmpeg(), seek=seek)
    source = play(str(sample.root / MASTER), ffmpeg(), seek=seek)
    assert played.frames == source.frames and played.total > 0
    # The seek skipped what lies before it (not a full decode from 0).
    full = FPS * SEGMENT_SECONDS * lp.platform.cfg.local.sample_segments
    assert max(played.video_frames.values()) < full
    # Within one MPEG-TS segment ffmpeg seeks by bytes: ranged requests (206) into the middle of it.
    segment = sample.path(f"{RENDITIONS[-1].name}/1.ts")
    inside = play(f"{lp.edge}{segment}", ffmpeg(), seek=1.0)
    assert inside.frames == play(str(sample.root / RENDITIONS[-1].name / "1.ts"), ffmpeg(), seek=1.0).frames
    deadline = time.monotonic() + 5  # the edge flushes its access log every second
    while not any('" 206 ' in line for line in _log_lines(lp, segment)) and time.monotonic() < deadline:
        time.sleep(0.2)
    ranged = [line for line in _log_lines(lp, segment) if '" 206 ' in line]
    assert ranged, f"no 206 answer for {segment} in the edge's log"


def test_edge_answers_cors_per_origin_on_miss_and_hit(lp: RunningPlatform) -> None:
    sample = lp.platform.sample
    path = sample.path(f"{RENDITIONS[0].name}/0.ts")
    url = f"{lp.edge}{path}"
    request("PURGE", url)
    gateway = lp.gateway("local-a", "blue") + path
    seen: list[str] = []
    for origin in ("http://127.0.0.1:4000", "http://localhost:5000", "http://evil.test"):
        with _get(url, origin) as edge, _get(gateway, origin) as direct:
            seen.append(edge.headers["X-Cache-Status"])
            assert edge.headers.get("Access-Control-Allow-Origin") == direct.headers.get(
                "Access-Control-Allow-Origin"
            )
            assert edge.headers.get("Vary") == direct.headers.get("Vary") == "Origin"
            expected = None if origin == "http://evil.test" else origin
            assert edge.headers.get("Access-Control-Allow-Origin") == expected
            if expected:
                assert "ETag" in edge.headers["Access-Control-Expose-Headers"]
    assert seen == ["MISS", "HIT", "HIT"]  # one cached copy, each origin answered for itself
    status, _ = request(
        "OPTIONS", url, headers={"Origin": "http://127.0.0.1:4000", "Access-Control-Request-Method": "GET"}
    )
    assert status == 204


def _get(url: str, origin: str) -> Any:
    import urllib.request

    return urllib.request.urlopen(urllib.request.Request(url, headers={"Origin": origin}), timeout=10)


@pytest.fixture(scope="module")
def page() -> Iterator[PlayerPage]:
    with player_page() as served:
        yield served


def test_hlsjs_in_chromium_plays_from_another_origin_and_switches_renditions(
    lp: RunningPlatform, page: PlayerPage, tmp_path: Path
) -> None:
    sample = lp.platform.sample
    src = f"{lp.edge}{sample.path(MASTER)}"
    assert page.origin != lp.edge  # another origin: every request is cross-origin (CORS)
    with chromium_driver(tmp_path / "chromium") as driver:
        driver.get(page.url(src))
        state = page.wait(driver, "player.levels.length > 0", 30)
        assert [level["height"] for level in state["levels"]] == [r.height for r in RENDITIONS]
        page.wait(driver, "document.getElementById('video').currentTime > 0.3", 30)
        top = len(RENDITIONS) - 1
        driver.execute_script(f"hls.currentLevel = {top}")  # force a switch to the top rendition
        state = page.wait(
            driver,
            f"player.switched.includes({top}) && player.fragments.some(f => f.level === {top})"
            f" && document.getElementById('video').videoHeight === {RENDITIONS[-1].height}",
            30,
        )
        state = page.wait(
            driver, f"document.getElementById('video').currentTime > {2 * SEGMENT_SECONDS + 0.1}", 40
        )
        assert state["errors"] == [] and state["mediaErrors"] == []
        assert {f["level"] for f in state["fragments"]} >= {0, top}


def test_ffmpeg_follows_a_live_playlist_as_segments_arrive(lp: RunningPlatform, tmp_path: Path) -> None:
    """A sliding window of 3 segments, EXT-X-MEDIA-SEQUENCE advancing with each upload; ffmpeg starts when
    2 segments exist and must decode every one of the 6, identical to the source."""
    source = encode_rendition(tmp_path / "live", "low", seconds=6 * SEGMENT_SECONDS)
    files = files_of(source)
    content = f"live-{uuid.uuid4().hex[:8]}"
    base = f"/v1/content/{content}/low"
    admin = lp.admin

    def publish(count: int, ended: bool = False) -> None:
        admin.put(f"{base}/{count - 1}.ts", files[f"{count - 1}.ts"], "video/mp2t")
        first = max(0, count - 3)
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{SEGMENT_SECONDS}",
            f"#EXT-X-MEDIA-SEQUENCE:{first}",
        ]
        for n in range(first, count):
            lines += [f"#EXTINF:{SEGMENT_SECONDS}.000000,", f"{n}.ts"]
        if ended:
            lines.append("#EXT-X-ENDLIST")
        admin.put(f"{base}/index.m3u8", ("\n".join(lines) + "\n").encode(), "application/vnd.apple.mpegurl")

    publish(1)
    publish(2)
    outcome: dict[str, Playback | BaseException] = {}

    def follow() -> None:
        try:
            outcome["played"] = play(f"{lp.edge}{base}/index.m3u8", ffmpeg(), timeout=90)
        except BaseException as exc:  # reported by the test below
            outcome["error"] = exc

    follower = threading.Thread(target=follow)
    follower.start()
    for count in range(3, 7):
        time.sleep(SEGMENT_SECONDS)  # as a live packager would: one segment per segment duration
        publish(count, ended=count == 6)
    follower.join(100)
    assert not follower.is_alive() and "error" not in outcome, outcome.get("error")
    played = outcome["played"]
    assert isinstance(played, Playback)
    reference = play(str(source / "index.m3u8"), ffmpeg())
    assert played.count(0) == 6 * SEGMENT_SECONDS * FPS  # segments 2..5 arrived after ffmpeg started
    assert played.frames == reference.frames

    # The playlist's short TTL at the edge: a copy is reused within max-age, fetched again after it.
    url = f"{lp.edge}{base}/index.m3u8"
    with _get(url, "http://127.0.0.1:4000") as first:
        assert first.headers["Cache-Control"] == f"public, max-age={lp.platform.cfg.cdn.manifest_ttl_seconds}"
    with _get(url, "http://127.0.0.1:4000") as again:
        assert again.headers["X-Cache-Status"] == "HIT"
    time.sleep(lp.platform.cfg.cdn.manifest_ttl_seconds + 1)
    with _get(url, "http://127.0.0.1:4000") as later:
        assert later.headers["X-Cache-Status"] in ("EXPIRED", "MISS")
