"""Playing HLS with ffmpeg as a viewer's tool would (its default demuxer options), decoding every stream
to per-frame checksums (`-f framemd5`), so what was played can be compared with the source frame by
frame. `local smoke` and the player tests use it."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field

from infra.local.errors import LocalPlatformError


@dataclass(frozen=True)
class Playback:
    source: str
    frames: list[tuple[int, int, str]]  # (stream, pts, md5) of every decoded frame, in output order
    media: dict[int, str]  # stream -> "video" | "audio"
    dimensions: dict[int, str]  # video stream -> "WxH"
    seconds: float
    log: str = field(default="", repr=False)

    def count(self, stream: int) -> int:
        return sum(1 for s, _, _ in self.frames if s == stream)

    @property
    def video_frames(self) -> dict[str, int]:
        """Frames decoded per video rendition, by its resolution."""
        counts = Counter(s for s, _, _ in self.frames)
        return {self.dimensions[s]: counts[s] for s in sorted(self.dimensions)}

    @property
    def total(self) -> int:
        return len(self.frames)


def play(source: str, ffmpeg: str, *, seek: float | None = None, timeout: float = 120.0) -> Playback:
    """Decode every stream of `source` (a URL or a file) with ffmpeg's default input options."""
    command = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error"]
    if seek is not None:
        command += ["-ss", f"{seek:g}"]
    command += ["-i", source, "-map", "0", "-f", "framemd5", "-"]
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise LocalPlatformError(f"ffmpeg did not finish playing {source} within {timeout:.0f}s") from exc
    if done.returncode != 0:
        raise LocalPlatformError(f"ffmpeg could not play {source}: {done.stderr.strip()[-600:]}")
    return parse_framemd5(source, done.stdout, time.monotonic() - started, done.stderr)


def parse_framemd5(source: str, text: str, seconds: float, log: str = "") -> Playback:
    frames: list[tuple[int, int, str]] = []
    media: dict[int, str] = {}
    dimensions: dict[int, str] = {}
    for line in text.splitlines():
        if line.startswith("#media_type "):
            index, kind = line.removeprefix("#media_type ").split(":")
            media[int(index)] = kind.strip()
        elif line.startswith("#dimensions "):
            index, size = line.removeprefix("#dimensions ").split(":")
            dimensions[int(index)] = size.strip()
        elif line and not line.startswith("#"):
            fields = [f.strip() for f in line.split(",")]
            frames.append((int(fields[0]), int(fields[2]), fields[5]))
    return Playback(source, frames, media, dimensions, seconds, log)
