"""Real HLS media for tests, made by ffmpeg (small: 192x108, 2 s segments): MPEG-TS or fMP4 renditions,
a master playlist naming them, and the set as a tar, as a packager would hand it to the admin API."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from tests.servers import require_binary

SEGMENT_SECONDS = 2
FPS = 25
CODECS = "avc1.42c00b,mp4a.40.2"


def ffmpeg() -> str:
    return require_binary("ffmpeg", "ffmpeg")


def encode_rendition(
    root: Path, name: str, *, seconds: int, fmp4: bool = False, size: str = "192x108", tone: int = 440
) -> Path:
    """`root/name/index.m3u8` with `<n>.ts` (or `init.mp4` + `<n>.m4s`) segments of SEGMENT_SECONDS."""
    out = root / name
    out.mkdir(parents=True)
    extension = "m4s" if fmp4 else "ts"
    command = [
        ffmpeg(),
        *("-hide_banner", "-loglevel", "error", "-nostdin", "-y"),
        *("-f", "lavfi", "-i", f"testsrc=size={size}:rate={FPS}:duration={seconds}"),
        *("-f", "lavfi", "-i", f"sine=frequency={tone}:sample_rate=48000:duration={seconds}"),
        *("-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline"),
        *("-g", str(FPS * SEGMENT_SECONDS), "-keyint_min", str(FPS * SEGMENT_SECONDS), "-sc_threshold", "0"),
        *("-c:a", "aac", "-b:a", "32k", "-fflags", "+bitexact"),
        *("-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_playlist_type", "vod"),
        *(("-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4") if fmp4 else ()),
        *("-hls_segment_filename", str(out / f"%d.{extension}"), str(out / "index.m3u8")),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return out


def master_playlist(*variants: tuple[str, int, str]) -> bytes:
    """A master naming `(rendition, bandwidth, resolution)` variants, each `<rendition>/index.m3u8`."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7"]
    for name, bandwidth, resolution in variants:
        lines += [
            f'#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={resolution},CODECS="{CODECS}"',
            f"{name}/index.m3u8",
        ]
    return ("\n".join(lines) + "\n").encode()


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()
