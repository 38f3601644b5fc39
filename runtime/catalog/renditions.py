"""Catalog renditions from a rendition set as a packager writes it (master playlist, media playlists,
segments): what the master declares of each variant, what its media playlist lists, and each segment's
size and SHA-256, so the catalog describes exactly the objects the content path serves."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from runtime.catalog.models import RenditionIn, SegmentIn
from runtime.service.hls import parse_master, parse_media

MASTER = "master.m3u8"


def from_rendition_set(files: Mapping[str, bytes]) -> dict[str, RenditionIn]:
    """Every variant of `files` (names relative to the title: `master.m3u8`, `720p/index.m3u8`, ...)."""
    master = parse_master(files[MASTER])
    out: dict[str, RenditionIn] = {}
    for variant in master.variants:
        playlist = parse_media(files[f"{variant.rendition}/index.m3u8"], f"{variant.rendition}/index.m3u8")
        segments = []
        for name, seconds in zip(playlist.segments, playlist.durations, strict=True):
            body = files[f"{variant.rendition}/{name}"]
            digest = hashlib.sha256(body).hexdigest()
            segments.append(
                SegmentIn(duration_ms=max(1, round(seconds * 1000)), size_bytes=len(body), sha256=digest)
            )
        out[variant.rendition] = RenditionIn(
            container="fmp4" if playlist.init else "ts",
            bandwidth=variant.bandwidth,
            resolution=variant.resolution,
            codecs=variant.codecs,
            target_duration=playlist.target_duration,
            segments=segments,
        )
    return out
