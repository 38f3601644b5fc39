"""The pure parts of HLS uploads: the URL scheme, playlist checks, container checks, origin allow-lists."""

from __future__ import annotations

import struct

import pytest

from runtime.security.cors import OriginAllowList, OriginError, check_entry
from runtime.service.containers import SegmentError, check_init, check_m4s, check_ts
from runtime.service.content import Kind, Role, parse_path
from runtime.service.hls import PlaylistError, parse_master, parse_media

MASTER = b"""#EXTM3U
#EXT-X-VERSION:3
#EXT-X-STREAM-INF:BANDWIDTH=510400,RESOLUTION=640x360,CODECS="avc1.42c01e,mp4a.40.2"
360p/index.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=1720400,AVERAGE-BANDWIDTH=1500000,RESOLUTION=1280x720,CODECS="avc1.42c01f,mp4a.40.2"
720p/index.m3u8
"""
MEDIA = b"""#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:7
#EXTINF:2.000000,
7.ts
#EXTINF:1.960,
8.ts
"""


@pytest.mark.parametrize(
    ("path", "role", "kind"),
    [
        ("/v1/content/t/master.m3u8", Role.MASTER, Kind.MANIFEST),
        ("/v1/content/t/720p/index.m3u8", Role.PLAYLIST, Kind.MANIFEST),
        ("/v1/content/t/720p/0.ts", Role.TS, Kind.SEGMENT),
        ("/v1/content/t/720p/10000000.m4s", Role.M4S, Kind.SEGMENT),
        ("/v1/content/t/720p/init.mp4", Role.INIT, Kind.SEGMENT),
        ("/v1/content/t/manifest", Role.LEGACY_MANIFEST, Kind.MANIFEST),
        ("/v1/content/t/segments/3", Role.LEGACY_SEGMENT, Kind.SEGMENT),
    ],
)
def test_the_url_scheme_names_each_kind_of_object(path: str, role: Role, kind: Kind) -> None:
    found = parse_path(path)
    assert found is not None and found.role is role and found.kind is kind
    assert found.key == path[1:]  # the cache key is the public path: a purge of `/key` reaches the edge


@pytest.mark.parametrize(
    "path",
    [
        "/v1/content/t/720p/01.ts",  # one path per segment: no leading zeros
        "/v1/content/t/720p/10000001.ts",  # above the segment limit
        "/v1/content/t/720p/0.mp4",
        "/v1/content/t/segments/0.ts",  # `segments` is the first scheme's folder, not a rendition
        "/v1/content/t/segments/index.m3u8",
        "/v1/content/t.x/master.m3u8",
        "/v1/content/t/a/b/0.ts",
        "/v1/content/t/720p/index.m3u8/",
    ],
)
def test_paths_outside_the_scheme_name_nothing(path: str) -> None:
    assert parse_path(path) is None


def test_first_scheme_segments_depend_on_their_manifest_and_new_ones_on_nothing() -> None:
    legacy, new = parse_path("/v1/content/t/segments/007"), parse_path("/v1/content/t/720p/7.ts")
    assert legacy is not None and legacy.key == "v1/content/t/segments/7"
    assert legacy.depends_on == ("v1/content/t/manifest",)
    assert new is not None and new.depends_on == ()  # a live playlist update must not purge its segments


def test_master_playlist_variants() -> None:
    master = parse_master(MASTER)
    assert [(v.rendition, v.bandwidth, v.resolution) for v in master.variants] == [
        ("360p", 510400, "640x360"),
        ("720p", 1720400, "1280x720"),
    ]
    assert master.variants[0].codecs == "avc1.42c01e,mp4a.40.2"
    assert master.renditions == ["360p", "720p"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (MASTER.replace(b"BANDWIDTH=510400,", b""), "line 3: variant without BANDWIDTH"),
        (MASTER.replace(b'CODECS="avc1.42c01e,mp4a.40.2"', b'CODECS=""'), "line 3: variant without CODECS"),
        (MASTER.replace(b"640x360", b"640by360"), "RESOLUTION must be <width>x<height>"),
        (MASTER.replace(b"BANDWIDTH=510400", b"BANDWIDTH=fast"), "BANDWIDTH must be a decimal integer"),
        (MASTER.replace(b"360p/index.m3u8", b"https://elsewhere.example/360p.m3u8"), "variant URI"),
        (MASTER.replace(b"360p/index.m3u8", b"../other/index.m3u8"), "variant URI"),
        (MASTER.replace(b"360p/index.m3u8", b"segments/index.m3u8"), "variant URI"),
        (MASTER.replace(b"#EXTM3U", b"#EXTM3X"), "first line must be #EXTM3U"),
        (MEDIA, "belongs in a media playlist"),
        (b"#EXTM3U\n#EXT-X-VERSION:3\n", "names no variant"),
        (MASTER + b'#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="a"\n', "not followed by a URI"),
        (b"\xff\xfe" + MASTER, "not UTF-8"),
    ],
)
def test_master_playlists_players_could_not_use_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(PlaylistError, match=message):
        parse_master(body)


def test_media_playlist_segments() -> None:
    media = parse_media(MEDIA)
    assert (media.target_duration, media.media_sequence, media.segments) == (2, 7, ["7.ts", "8.ts"])
    assert media.init is None and not media.ended
    fmp4 = parse_media(
        b'#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:2,\n0.m4s\n#EXT-X-ENDLIST\n'
    )
    assert fmp4.names == ["init.mp4", "0.m4s"] and fmp4.ended


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (MEDIA.replace(b"#EXT-X-TARGETDURATION:2\n", b""), "EXT-X-TARGETDURATION is missing"),
        (
            MEDIA.replace(b"#EXTINF:1.960", b"#EXTINF:2.6"),
            "8.ts lasts 2.6 s, longer than EXT-X-TARGETDURATION 2",
        ),
        (MEDIA.replace(b"8.ts", b"segments/8"), "must name a segment beside the playlist"),
        (MEDIA.replace(b"8.ts", b"http://cdn.example/8.ts"), "must name a segment beside the playlist"),
        (MEDIA.replace(b"8.ts", b"08.ts"), "must name a segment beside the playlist"),
        (MEDIA.replace(b"8.ts", b"8.m4s"), "mixes .ts and .m4s"),
        (MEDIA.replace(b"7.ts", b"7.m4s").replace(b"8.ts", b"8.m4s"), 'need #EXT-X-MAP:URI="init.mp4"'),
        (MEDIA + b'#EXT-X-MAP:URI="other.mp4"\n', 'EXT-X-MAP must be URI="init.mp4"'),
        (MEDIA + b"#EXTINF:1,\n", "last EXTINF is not followed by a segment URI"),
        (MEDIA + b"9.ts\n", "URI '9.ts' without an EXTINF"),
        (MEDIA.replace(b"#EXTINF:2.000000", b"#EXTINF:nan"), "finite number"),
        (MASTER, "belongs in a master playlist"),
    ],
)
def test_media_playlists_players_could_not_use_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(PlaylistError, match=message):
        parse_media(body)


def _box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def test_container_checks() -> None:
    packet = b"\x47" + bytes(187)
    check_ts(packet * 3, "x.ts")
    with pytest.raises(SegmentError, match="multiple of 188"):
        check_ts(packet * 3 + b"\x00", "x.ts")
    with pytest.raises(SegmentError, match="sync byte"):
        check_ts(packet + b"\x00" * 188, "x.ts")
    check_init(_box(b"ftyp", b"iso6") + _box(b"moov", _box(b"mvhd")), "init.mp4")
    check_m4s(_box(b"styp") + _box(b"moof") + _box(b"mdat", b"xx"), "0.m4s")
    with pytest.raises(SegmentError, match="not an fMP4 init segment"):
        check_init(_box(b"moof") + _box(b"mdat"), "init.mp4")
    with pytest.raises(SegmentError, match="not ISO BMFF"):
        check_m4s(packet * 2, "0.m4s")  # MPEG-TS bytes named .m4s
    with pytest.raises(SegmentError, match="not an fMP4 media segment"):
        check_m4s(_box(b"ftyp") + _box(b"moov"), "0.m4s")
    with pytest.raises(SegmentError, match="has size"):
        check_m4s(_box(b"moof")[:-1] + b"\xff\xff\xff\xff", "0.m4s")


def test_origin_allow_lists() -> None:
    allow = OriginAllowList.of(["https://player.example.com", "http://127.0.0.1:*"])
    assert allow.allows("https://player.example.com")
    assert allow.allows("http://127.0.0.1:8080") and allow.allows("http://127.0.0.1")
    assert not allow.allows("https://player.example.com.evil.test")
    assert not allow.allows("http://player.example.com")  # another scheme is another origin
    assert not allow.allows("https://player.example.com/path")
    assert not allow.allows("http://127.0.0.10:8080")
    assert not allow.allows("null")
    anyone = OriginAllowList.of(["*"])
    assert anyone.any and anyone.allows("https://x.test") and not anyone.allows("null")
    none = OriginAllowList.of([])
    assert not none.enabled and not none.allows("https://player.example.com")
    for bad in (
        "https://player.example.com/",
        "player.example.com",
        "https://*.example.com",
        "HTTPS://A.COM",
    ):
        with pytest.raises(OriginError, match="is not an origin"):
            check_entry(bad)
