"""What admin writes send, validated before anything reaches the database (422 names the field)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from runtime import content_paths

SLUG = re.compile(rf"^{content_paths.CONTENT_ID}$")
RENDITION = re.compile(rf"^{content_paths.RENDITION}$")
REGION = re.compile(r"^[a-z0-9-]{2,32}$")
MAX_SEGMENTS = 100_000  # per rendition: ~4 days of 4-second segments


class TitleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=300)
    kind: Literal["movie", "series", "episode"]
    release_year: int | None = Field(None, ge=1870, le=2200)
    description: str = Field("", max_length=10_000)
    parent: str | None = Field(None, description="the series of an episode")
    season: int | None = Field(None, ge=0, le=10_000)
    episode: int | None = Field(None, ge=0, le=100_000)
    regions: list[str] | None = Field(None, max_length=64, description="where it is available; None: keep")
    version: int | None = Field(None, ge=1, description="optimistic concurrency: the version you read")

    @field_validator("regions")
    @classmethod
    def _regions(cls, v: list[str] | None) -> list[str] | None:
        for region in v or ():
            if not REGION.match(region):
                raise ValueError(f"region {region!r} must match {REGION.pattern}")
        return sorted(set(v)) if v is not None else None

    @model_validator(mode="after")
    def _episode(self) -> TitleIn:
        if (self.kind == "episode") != (self.parent is not None):
            raise ValueError("an episode names its series in `parent`, and only an episode does")
        if self.parent is not None and not SLUG.match(self.parent):
            raise ValueError("parent must be a title id")
        return self


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duration_ms: int = Field(gt=0, le=3_600_000)
    size_bytes: int = Field(gt=0, le=1 << 34)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class RenditionIn(BaseModel):
    """One HLS variant, as the master playlist declares it (BANDWIDTH, RESOLUTION, CODECS) and its media
    playlist lists it (TARGETDURATION, segments in order: `<n>.ts`, or `<n>.m4s` after `init.mp4`)."""

    model_config = ConfigDict(extra="forbid")

    container: Literal["ts", "fmp4"]
    bandwidth: int = Field(gt=0, le=1 << 40)
    resolution: str | None = Field(None, pattern=r"^[0-9]{1,5}x[0-9]{1,5}$")
    codecs: str = Field(min_length=1, max_length=200)
    target_duration: int = Field(gt=0, le=3600)
    segments: list[SegmentIn] = Field(max_length=MAX_SEGMENTS)
