"""A small async facade over one S3 bucket (optionally under a key prefix).

boto3 is synchronous; each call runs in a worker thread via `asyncio.to_thread` so the event loop never
blocks. The same class works against AWS S3 and moto's server (`endpoint_url`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from runtime.storage.errors import ObjectNotFoundError, StorageError, StorageUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_NOT_FOUND = frozenset({"404", "NoSuchKey", "NoSuchBucket", "NotFound"})
_DELETE_BATCH = 1000  # DeleteObjects' limit per request


@dataclass(frozen=True)
class ObjectInfo:
    """Metadata of one stored object; `key` is relative to the store's prefix."""

    key: str
    size: int
    etag: str
    last_modified: datetime | None = None
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


class ObjectStore:
    """get / put / head / delete / list / exists on one bucket, as coroutines."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        max_pool_connections: int = 32,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        client: S3Client | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.region = region
        if client is None:
            config = Config(
                region_name=region,
                max_pool_connections=max_pool_connections,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"max_attempts": 3, "mode": "standard"},
            )
            client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
        self._s3: S3Client = client

    def _full(self, key: str) -> str:
        return self.prefix + key

    def _relative(self, full_key: str) -> str:
        return full_key[len(self.prefix) :]

    async def _call(self, key: str, fn: Any, /, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _NOT_FOUND:
                raise ObjectNotFoundError(key) from exc
            raise StorageUnavailableError(f"s3 {fn.__name__} {key!r}: {code or exc}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailableError(f"s3 {fn.__name__} {key!r}: {exc}") from exc

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (local platform and tests; clouds declare it in Pulumi)."""
        try:
            await self._call(self.bucket, self._s3.head_bucket, Bucket=self.bucket)
            return
        except ObjectNotFoundError:
            pass
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region and self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        await self._call(self.bucket, self._s3.create_bucket, **kwargs)

    async def get(self, key: str, *, byte_range: tuple[int, int | None] | None = None) -> bytes:
        """The object's bytes; `byte_range=(first, last)` is inclusive as in HTTP, `last=None` to the end."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._full(key)}
        if byte_range is not None:
            first, last = byte_range
            if first < 0 or (last is not None and last < first):
                raise ValueError(f"bad byte range {byte_range}")
            kwargs["Range"] = f"bytes={first}-{'' if last is None else last}"

        def read() -> bytes:
            body = self._s3.get_object(**kwargs)["Body"]
            try:
                return body.read()
            finally:
                body.close()

        read.__name__ = "get_object"
        result: bytes = await self._call(key, read)
        return result

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Store `data` under `key`; returns the ETag."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._full(key), "Body": data}
        if content_type:
            kwargs["ContentType"] = content_type
        if metadata:
            kwargs["Metadata"] = dict(metadata)
        response = await self._call(key, self._s3.put_object, **kwargs)
        return str(response.get("ETag", "")).strip('"')

    async def head(self, key: str) -> ObjectInfo:
        """Metadata without the body; raises ObjectNotFoundError."""
        r = await self._call(key, self._s3.head_object, Bucket=self.bucket, Key=self._full(key))
        return ObjectInfo(
            key=key,
            size=int(r.get("ContentLength", 0)),
            etag=str(r.get("ETag", "")).strip('"'),
            last_modified=r.get("LastModified"),
            content_type=r.get("ContentType"),
            metadata=dict(r.get("Metadata", {})),
        )

    async def exists(self, key: str) -> bool:
        try:
            await self.head(key)
        except ObjectNotFoundError:
            return False
        return True

    async def delete(self, key: str) -> None:
        """Delete one object; deleting a missing object is not an error (S3 semantics)."""
        await self._call(key, self._s3.delete_object, Bucket=self.bucket, Key=self._full(key))

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Delete many objects, 1000 per request."""
        for start in range(0, len(keys), _DELETE_BATCH):
            chunk = keys[start : start + _DELETE_BATCH]
            objects: Any = [{"Key": self._full(k)} for k in chunk]
            r = await self._call(
                chunk[0],
                self._s3.delete_objects,
                Bucket=self.bucket,
                Delete={"Objects": objects, "Quiet": True},
            )
            errors = r.get("Errors") or []
            if errors:
                first = errors[0]
                raise StorageError(
                    f"s3 delete_objects: {len(errors)} failed, e.g. {first.get('Key')}: {first}"
                )

    async def list(self, prefix: str = "", *, page_size: int = 1000) -> AsyncIterator[ObjectInfo]:
        """Objects whose key starts with `prefix` (relative to the store's prefix), in key order."""
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "Bucket": self.bucket,
                "Prefix": self._full(prefix),
                "MaxKeys": page_size,
            }
            if token:
                kwargs["ContinuationToken"] = token
            page = await self._call(prefix, self._s3.list_objects_v2, **kwargs)
            for obj in page.get("Contents", []):
                yield ObjectInfo(
                    key=self._relative(obj["Key"]),
                    size=int(obj.get("Size", 0)),
                    etag=str(obj.get("ETag", "")).strip('"'),
                    last_modified=obj.get("LastModified"),
                )
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    def close(self) -> None:
        """Release the client's HTTP connections."""
        self._s3.close()


__all__ = ["ObjectInfo", "ObjectStore", "StorageError"]
