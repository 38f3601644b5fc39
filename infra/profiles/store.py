"""The profile store: one object per pushed profile, gzipped pprof, under a key that says whose it is.

    profiles/<service>/<region>/<version>/<color>/<unix ms>-<n>.pb.gz

so a selection by region, version or color is a prefix listing plus a filter, and keys sort by time.
The local platform's profile receiver (infra/profiles/sink.py) writes it; `streamgate profile` reads it."""

from __future__ import annotations

import builtins
import gzip
import itertools
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from infra.profiles import pprof
from infra.profiles.errors import NoProfilesError, ProfileError

PREFIX = "profiles"
SERVICE = "streamgate-gateway"
TAGS = ("region", "version", "color")
_SAFE = re.compile(r"[^A-Za-z0-9._+-]")
_KEY = re.compile(
    r"^(?P<prefix>.+)/(?P<service>[^/]+)/(?P<region>[^/]+)/(?P<version>[^/]+)/(?P<color>[^/]+)/"
    r"(?P<ms>\d{13})-(?P<n>\d+)\.pb\.gz$"
)
_counter = itertools.count()


def _part(value: str | None) -> str:
    return _SAFE.sub("_", value)[:64] if value else "unknown"


@dataclass(frozen=True)
class StoredProfile:
    key: str
    service: str
    region: str
    version: str
    color: str
    at: float  # when the receiver stored it (Unix seconds)
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "service": self.service,
            "region": self.region,
            "version": self.version,
            "color": self.color,
            "at": round(self.at, 3),
            "size": self.size,
        }


@dataclass(frozen=True)
class Selection:
    """Which profiles: each field None matches any; `since`/`until` are Unix seconds."""

    service: str = SERVICE
    region: str | None = None
    version: str | None = None
    color: str | None = None
    since: float | None = None
    until: float | None = None

    def matches(self, p: StoredProfile) -> bool:
        return (
            (self.region is None or p.region == self.region)
            and (self.version is None or p.version == self.version)
            and (self.color is None or p.color == self.color)
            and (self.since is None or p.at >= self.since)
            and (self.until is None or p.at <= self.until)
        )

    def describe(self) -> str:
        parts = [
            f"{k}={v}"
            for k, v in (("region", self.region), ("version", self.version), ("color", self.color))
            if v
        ]
        return ", ".join(parts) or "all"


class ProfileStore:
    """Profiles in one bucket of an S3 API (moto locally), through a boto3 client."""

    def __init__(self, s3: Any, bucket: str, prefix: str = PREFIX) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix

    def put(self, labels: Mapping[str, str], profile: bytes, at: float | None = None) -> str:
        """Store one pushed pprof (gzipped here unless it already is); returns its key."""
        at = time.time() if at is None else at
        service = _part(labels.get("service_name"))
        parts = "/".join(_part(labels.get(tag)) for tag in TAGS)
        key = f"{self.prefix}/{service}/{parts}/{int(at * 1000):013d}-{next(_counter)}.pb.gz"
        body = profile if profile[:2] == b"\x1f\x8b" else gzip.compress(profile, compresslevel=5)
        self.s3.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType="application/vnd.google.protobuf"
        )
        return key

    def _keys(self, service: str) -> Iterator[tuple[str, int]]:
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/{_part(service)}/"):
            for item in page.get("Contents", []):
                yield item["Key"], int(item.get("Size", 0))

    def list(self, selection: Selection) -> builtins.list[StoredProfile]:
        """The stored profiles that match, oldest first."""
        found = []
        try:
            keys = list(self._keys(selection.service))
        except Exception as exc:  # botocore's errors: the store is unreachable or the bucket is missing
            raise ProfileError(f"listing profiles in bucket {self.bucket}: {exc}") from exc
        for key, size in keys:
            m = _KEY.match(key)
            if m is None:
                continue
            p = StoredProfile(
                key, m["service"], m["region"], m["version"], m["color"], int(m["ms"]) / 1000, size
            )
            if selection.matches(p):
                found.append(p)
        return sorted(found, key=lambda p: p.at)

    def read(self, key: str) -> pprof.Profile:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:
            raise ProfileError(f"reading {key} from bucket {self.bucket}: {exc}") from exc
        return pprof.decode(body)

    def load(self, selection: Selection) -> tuple[pprof.Profile, builtins.list[StoredProfile]]:
        """Every matching profile merged into one (a longer look at the same code), and which they were."""
        chosen = self.list(selection)
        if not chosen:
            raise NoProfilesError(f"no stored profiles of {selection.service} match {selection.describe()}")
        return pprof.merged(self.read(p.key) for p in chosen), chosen
