"""HLS playlists (RFC 8216) as uploads are checked: what a master or media playlist names, or why a player
could not use it. Pure functions; the names they return are relative to the playlist, in our URL scheme
(`runtime.service.content`): a master names `{rendition}/index.m3u8`, a media playlist names `{n}.ts`,
`{n}.m4s` and `init.mp4` beside it."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from runtime.content_paths import RENDITION, SEGMENT_NUMBER
from runtime.service.content import INDEX, INIT, RESERVED_RENDITIONS
from runtime.service.errors import ContentError

MAX_PLAYLIST_BYTES = 1024 * 1024
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"\r\n]*"|[^",\s]*)(?:,|$)')
_VARIANT_URI = re.compile(rf"^({RENDITION})/index\.m3u8$")
_SEGMENT_URI = re.compile(rf"^(?:{SEGMENT_NUMBER})\.(ts|m4s)$")
_RESOLUTION = re.compile(r"^[1-9][0-9]{0,4}x[1-9][0-9]{0,4}$")
_URI_TAGS = ("#EXT-X-MEDIA:", "#EXT-X-I-FRAME-STREAM-INF:")


class PlaylistError(ContentError):
    """A playlist players could not use; the message names the line and the fix."""


@dataclass(frozen=True)
class Variant:
    rendition: str
    bandwidth: int
    resolution: str | None
    codecs: str


@dataclass(frozen=True)
class MasterPlaylist:
    variants: list[Variant]
    renditions: list[str]  # every rendition named (variants, alternates, I-frame playlists), in order


@dataclass(frozen=True)
class MediaPlaylist:
    target_duration: int
    media_sequence: int
    segments: list[str]  # names beside the playlist, in order
    init: str | None  # the EXT-X-MAP URI (fMP4)
    ended: bool  # EXT-X-ENDLIST: VOD or a finished live stream
    durations: list[float] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """Every object the playlist needs."""
        return [*([self.init] if self.init else []), *self.segments]


def _lines(body: bytes, what: str) -> list[tuple[int, str]]:
    if len(body) > MAX_PLAYLIST_BYTES:
        raise PlaylistError(f"{what}: larger than {MAX_PLAYLIST_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlaylistError(f"{what}: not UTF-8 text (byte {exc.start})") from None
    if "\x00" in text:
        raise PlaylistError(f"{what}: contains NUL bytes")
    lines = [(i, line.strip()) for i, line in enumerate(text.removeprefix("\ufeff").splitlines(), 1)]
    lines = [(i, line) for i, line in lines if line]
    if not lines or lines[0][1] != "#EXTM3U":
        raise PlaylistError(f"{what}: the first line must be #EXTM3U")
    return lines


def attributes(text: str, where: str) -> dict[str, str]:
    """An attribute list (`BANDWIDTH=1,CODECS="a,b"`), quotes removed."""
    found: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _ATTRIBUTE.match(text, pos)
        if match is None:
            raise PlaylistError(f"{where}: malformed attribute list at {text[pos : pos + 20]!r}")
        name, value = match.groups()
        found[name] = value[1:-1] if value.startswith('"') else value
        pos = match.end()
    return found


def _integer(value: str, name: str, where: str) -> int:
    if not value.isdigit() or len(value) > 15:
        raise PlaylistError(f"{where}: {name} must be a decimal integer, got {value!r}")
    return int(value)


def _variant_rendition(uri: str, where: str) -> str:
    match = _VARIANT_URI.match(uri)
    if match is None or match[1] in RESERVED_RENDITIONS:
        raise PlaylistError(
            f"{where}: variant URI {uri!r} must be a rendition's playlist, `<rendition>/{INDEX}` "
            f"(rendition: letters, digits, _ or -, not {'/'.join(sorted(RESERVED_RENDITIONS))})"
        )
    return match[1]


def parse_master(body: bytes, what: str = "master.m3u8") -> MasterPlaylist:
    """A master playlist's variants; every variant needs BANDWIDTH (RFC 8216 §4.3.4.2) and CODECS (so a
    player picks what it can decode without downloading it), RESOLUTION is checked when given."""
    lines = _lines(body, what)
    variants: list[Variant] = []
    renditions: list[str] = []
    pending: tuple[int, dict[str, str]] | None = None
    for number, line in lines[1:]:
        where = f"{what} line {number}"
        if pending is not None and not line.startswith("#"):
            attrs = pending[1]
            rendition = _variant_rendition(line, where)
            variants.append(
                Variant(rendition, int(attrs["BANDWIDTH"]), attrs.get("RESOLUTION"), attrs["CODECS"])
            )
            renditions.append(rendition)
            pending = None
        elif line.startswith("#EXT-X-STREAM-INF:"):
            if pending is not None:
                raise PlaylistError(f"{what} line {pending[0]}: EXT-X-STREAM-INF is not followed by a URI")
            pending = (number, _stream_inf(line.split(":", 1)[1], where))
        elif line.startswith(_URI_TAGS):
            uri = attributes(line.split(":", 1)[1], where).get("URI")
            if uri is not None:
                renditions.append(_variant_rendition(uri, where))
        elif line.startswith(("#EXTINF:", "#EXT-X-TARGETDURATION:", "#EXT-X-MAP:")):
            raise PlaylistError(
                f"{where}: {line.split(':', 1)[0]} belongs in a media playlist, not in a master playlist "
                f"(upload segments as <rendition>/{INDEX})"
            )
        elif not line.startswith("#"):
            raise PlaylistError(f"{where}: URI {line!r} without an EXT-X-STREAM-INF before it")
    if pending is not None:
        raise PlaylistError(f"{what} line {pending[0]}: EXT-X-STREAM-INF is not followed by a URI")
    if not variants:
        raise PlaylistError(f"{what}: names no variant (#EXT-X-STREAM-INF followed by <rendition>/{INDEX})")
    return MasterPlaylist(variants, list(dict.fromkeys(renditions)))


def _stream_inf(text: str, where: str) -> dict[str, str]:
    attrs = attributes(text, where)
    if "BANDWIDTH" not in attrs:
        raise PlaylistError(f"{where}: variant without BANDWIDTH (RFC 8216 requires it: BANDWIDTH=<bits/s>)")
    if _integer(attrs["BANDWIDTH"], "BANDWIDTH", where) <= 0:
        raise PlaylistError(f"{where}: BANDWIDTH must be positive")
    if "AVERAGE-BANDWIDTH" in attrs:
        _integer(attrs["AVERAGE-BANDWIDTH"], "AVERAGE-BANDWIDTH", where)
    if not attrs.get("CODECS"):
        raise PlaylistError(f'{where}: variant without CODECS (e.g. CODECS="avc1.4d401f,mp4a.40.2")')
    resolution = attrs.get("RESOLUTION")
    if resolution is not None and not _RESOLUTION.match(resolution):
        raise PlaylistError(f"{where}: RESOLUTION must be <width>x<height>, got {resolution!r}")
    return attrs


def parse_media(body: bytes, what: str = INDEX) -> MediaPlaylist:
    """A media playlist's segments: each EXTINF followed by a name beside the playlist (`{n}.ts` or
    `{n}.m4s`, one kind per playlist; `.m4s` needs `EXT-X-MAP:URI="init.mp4"`), no longer than
    EXT-X-TARGETDURATION (rounded, RFC 8216 §4.3.3.1)."""
    lines = _lines(body, what)
    target: int | None = None
    sequence = 0
    init: str | None = None
    ended = False
    segments: list[str] = []
    durations: list[float] = []
    duration: float | None = None
    for number, line in lines[1:]:
        where = f"{what} line {number}"
        tag, _, value = line.partition(":")
        if duration is not None and not line.startswith("#"):
            if _SEGMENT_URI.match(line) is None:
                raise PlaylistError(
                    f"{where}: segment URI {line!r} must name a segment beside the playlist: "
                    "<n>.ts (MPEG-TS) or <n>.m4s (fMP4), n = 0, 1, 2, ..."
                )
            segments.append(line)
            durations.append(duration)
            duration = None
        elif tag == "#EXTINF":
            text = value.split(",", 1)[0]
            try:
                duration = float(text)
            except ValueError:
                raise PlaylistError(f"{where}: EXTINF duration {text!r} is not a number") from None
            if not math.isfinite(duration) or duration < 0:
                raise PlaylistError(f"{where}: EXTINF duration must be a finite number ≥ 0")
        elif tag == "#EXT-X-TARGETDURATION":
            target = _integer(value, "EXT-X-TARGETDURATION", where)
        elif tag == "#EXT-X-MEDIA-SEQUENCE":
            sequence = _integer(value, "EXT-X-MEDIA-SEQUENCE", where)
        elif tag == "#EXT-X-MAP":
            uri = attributes(value, where).get("URI")
            if uri != INIT:
                raise PlaylistError(
                    f'{where}: EXT-X-MAP must be URI="{INIT}" (the rendition\'s init segment)'
                )
            init = uri
        elif tag == "#EXT-X-ENDLIST":
            ended = True
        elif tag in ("#EXT-X-STREAM-INF", "#EXT-X-MEDIA", "#EXT-X-I-FRAME-STREAM-INF"):
            raise PlaylistError(f"{where}: {tag[1:]} belongs in a master playlist (upload it as master.m3u8)")
        elif not line.startswith("#"):
            raise PlaylistError(f"{where}: URI {line!r} without an EXTINF before it")
    if duration is not None:
        raise PlaylistError(f"{what}: the last EXTINF is not followed by a segment URI")
    if target is None:
        raise PlaylistError(f"{what}: EXT-X-TARGETDURATION is missing (the longest segment, in seconds)")
    for name, seconds in zip(segments, durations, strict=True):
        if round(seconds) > target:
            raise PlaylistError(
                f"{what}: segment {name} lasts {seconds:g} s, longer than EXT-X-TARGETDURATION {target}"
            )
    kinds = {name.rsplit(".", 1)[1] for name in segments}
    if len(kinds) > 1:
        raise PlaylistError(f"{what}: mixes .ts and .m4s segments (one container per rendition)")
    if kinds == {"m4s"} and init is None:
        raise PlaylistError(f'{what}: fMP4 segments (.m4s) need #EXT-X-MAP:URI="{INIT}"')
    if kinds == {"ts"} and init is not None:
        raise PlaylistError(f"{what}: EXT-X-MAP with MPEG-TS segments: use .m4s for fMP4 segments")
    return MediaPlaylist(target, sequence, segments, init, ended, durations)
