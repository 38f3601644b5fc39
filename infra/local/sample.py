"""The local platform's sample title: a real, playable HLS stream with several renditions, generated with
ffmpeg from its test pattern and a tone when the platform is first seeded, and uploaded as one rendition
set through the gateway's admin API.

It is generated, not shipped: `make setup` installs ffmpeg wherever the platform runs (ffmpeg also plays it
in `local smoke`), and a generated title follows the stack's `local.sampleSegments`. It is kept in the
state directory and reused while its parameters stay the same, so seeding is repeatable (same bytes, same
ETags) and costs the encoding once per state directory.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from infra.config import StackConfig
from infra.local.errors import LocalPlatformError, PreflightError
from infra.local.gateway import AdminClient, request


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    video_bits: int  # target video bitrate, bits/s


RENDITIONS = (
    Rendition("360p", 640, 360, 400_000),
    Rendition("540p", 960, 540, 800_000),
    Rendition("720p", 1280, 720, 1_500_000),
)
SEGMENT_SECONDS = 2
FPS = 25
AUDIO_BITS = 64_000
AAC_PRIMING_SAMPLES = 1024
MASTER = "master.m3u8"


def expected_bytes(segments: int) -> int:
    """About how large the sample title is (every rendition, with audio), for sizing the edge cache."""
    bits_per_second = sum(r.video_bits + AUDIO_BITS for r in RENDITIONS)
    return segments * SEGMENT_SECONDS * bits_per_second // 8


PARAMS_FILE = "params.json"


def ffmpeg_binary() -> str:
    found = shutil.which("ffmpeg")
    if found is None:
        raise PreflightError(
            "ffmpeg is missing (it generates and plays the sample title): "
            "run `apt-get install -y --no-install-recommends ffmpeg` (make setup does)"
        )
    return found


def encode_command(ffmpeg: str, out: Path, seconds: int) -> list[str]:
    """One ffmpeg run: the test pattern and a tone, scaled to every rendition, H.264 + AAC in MPEG-TS
    segments of SEGMENT_SECONDS (a key frame starts each), a media playlist per rendition and a master
    playlist with BANDWIDTH, RESOLUTION and CODECS. Bit-exact flags keep version strings out of it."""
    top = RENDITIONS[-1]
    count = len(RENDITIONS)
    split = "".join(f"[s{i}]" for i in range(count))
    scales = ";".join(f"[s{i}]scale={r.width}:{r.height}[v{i}]" for i, r in enumerate(RENDITIONS))
    # The AAC encoder moves its output 1024 samples (its priming) ahead of its input; starting the tone
    # that much later makes audio and video both start at 0, so players find no hole at the start
    # (hls.js otherwise seeks over a 21 ms gap and reports it as a media error).
    tones = "".join(f"[a{i}]" for i in range(count))
    audio = f"[1:a]asetpts=PTS+{AAC_PRIMING_SAMPLES},asplit={count}{tones}"
    gop = SEGMENT_SECONDS * FPS
    command = [
        ffmpeg,
        *("-hide_banner", "-loglevel", "error", "-nostdin", "-y"),
        *("-f", "lavfi", "-i", f"testsrc=size={top.width}x{top.height}:rate={FPS}:duration={seconds}"),
        *("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"),
        "-filter_complex",
        f"[0:v]format=yuv420p,split={count}{split};{scales};{audio}",
    ]
    for i in range(count):
        command += ["-map", f"[v{i}]"]
    for i in range(count):
        command += ["-map", f"[a{i}]"]
    for i, r in enumerate(RENDITIONS):
        command += [f"-b:v:{i}", str(r.video_bits)]
    command += [
        *("-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "main"),
        *("-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"),
        *("-c:a", "aac", "-b:a", str(AUDIO_BITS)),
        *("-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"),
        *("-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_playlist_type", "vod"),
        *("-hls_segment_filename", str(out / "%v" / "%d.ts"), "-master_pl_name", MASTER),
        "-var_stream_map",
        " ".join(f"v:{i},a:{i},name:{r.name}" for i, r in enumerate(RENDITIONS)),
        str(out / "%v" / "index.m3u8"),
    ]
    return command


@dataclass(frozen=True)
class SampleContent:
    """The rendition set: every file by its name relative to the title (`720p/0.ts`, `master.m3u8`)."""

    content_id: str
    root: Path
    files: dict[str, bytes]

    @property
    def master(self) -> bytes:
        return self.files[MASTER]

    @property
    def segments(self) -> list[str]:
        return sorted(name for name in self.files if name.endswith(".ts"))

    @property
    def renditions(self) -> list[str]:
        return [r.name for r in RENDITIONS]

    def path(self, name: str) -> str:
        """The public path of one file of the title."""
        return f"/v1/content/{self.content_id}/{name}"

    def archive(self) -> bytes:
        """The set as a tar (names sorted, no times or owners, so the same files give the same bytes)."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name in sorted(self.files):
                info = tarfile.TarInfo(name)
                info.size = len(self.files[name])
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(self.files[name]))
        return buffer.getvalue()

    @classmethod
    def for_stack(cls, cfg: StackConfig, directory: Path) -> SampleContent:
        """The sample kept in `directory`, generated there first when missing or made differently."""
        params = {
            "renditions": [r.__dict__ for r in RENDITIONS],
            "segments": cfg.local.sample_segments,
            "segment_seconds": SEGMENT_SECONDS,
            "fps": FPS,
            "audio_delay_samples": AAC_PRIMING_SAMPLES,
        }
        marker = directory / PARAMS_FILE
        try:
            current = json.loads(marker.read_text()) == params
        except (OSError, ValueError):
            current = False
        if not current:
            generate(directory, params, cfg.local.sample_segments * SEGMENT_SECONDS)
        files = {
            str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name != PARAMS_FILE
        }
        return cls(cfg.local.sample_content_id, directory, files)


def generate(directory: Path, params: dict[str, object], seconds: int) -> None:
    """Encode into a scratch directory beside `directory`, then swap it in (never half a sample)."""
    ffmpeg = ffmpeg_binary()
    directory.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".sample-", dir=directory.parent))
    try:
        for r in RENDITIONS:
            (scratch / r.name).mkdir()
        done = subprocess.run(
            encode_command(ffmpeg, scratch, seconds), capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise LocalPlatformError(f"ffmpeg could not generate the sample: {done.stderr.strip()[-500:]}")
        (scratch / PARAMS_FILE).write_text(json.dumps(params))
        shutil.rmtree(directory, ignore_errors=True)
        scratch.rename(directory)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def upload(admin: AdminClient, sample: SampleContent, base_url: str | None = None) -> int:
    """POST the whole set to the title's renditions endpoint; returns the bytes uploaded."""
    base = base_url or admin.layout.edge_url
    headers = {"Authorization": f"Bearer {admin.step_up(base)}", "Content-Type": "application/x-tar"}
    status, answer = request(
        "POST", f"{base}/v1/content/{sample.content_id}/renditions", sample.archive(), headers, timeout=60
    )
    if status != 200:
        raise LocalPlatformError(f"uploading the sample set failed: HTTP {status}: {answer[:300]!r}")
    return sum(len(b) for b in sample.files.values())
