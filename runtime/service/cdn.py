"""CDN purgers (the cache's `CdnPurger` hook), chosen by `purger_for(settings)`:
- `HttpCdnPurger`: `PURGE <purge_url>/<key>` for every invalidated key, in parallel with bounded
  concurrency. nginx (the local edge) and Varnish-style caches answer PURGE. A purge is one tiny request,
  so it speaks HTTP/1.1 over asyncio streams itself rather than adding an HTTP client to the runtime image.
- `CloudFrontPurger`: one CreateInvalidation per batch of paths on the stack's distribution.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    from runtime.service.settings import CdnSettings

from runtime.observability.tracing import Tracing
from runtime.service.errors import ServiceError

log = logging.getLogger(__name__)


class CdnPurgeError(ServiceError):
    """The edge refused or did not answer a purge."""


class HttpCdnPurger:
    def __init__(self, base_url: str, *, timeout: float = 2.0, concurrency: int = 8) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"CDN purge URL must be http(s)://host[:port][/prefix], got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._tls = ssl.create_default_context() if parts.scheme == "https" else None
        self._host_header = parts.netloc
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._limit = asyncio.Semaphore(concurrency)
        self.purged: list[str] = []  # the last paths purged (diagnostics, tests)

    def url(self, key: str) -> str:
        return f"{self.base_url}/{key.lstrip('/')}"

    def _target(self, key: str) -> str:
        return f"{self._prefix}/{quote(key.lstrip('/'), safe='/')}"

    async def _request(self, key: str) -> int:
        headers = {"Host": self._host_header, "Connection": "close", "Content-Length": "0"}
        Tracing.inject(headers)
        head = f"PURGE {self._target(key)} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()
        )
        reader, writer = await asyncio.open_connection(self._host, self._port, ssl=self._tls)
        try:
            writer.write(head.encode("latin-1") + b"\r\n")
            await writer.drain()
            status_line = await reader.readline()
        finally:
            writer.close()
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise CdnPurgeError(f"PURGE {key}: malformed response")
        return int(parts[1])

    async def _one(self, key: str) -> None:
        async with self._limit:
            try:
                async with asyncio.timeout(self._timeout):
                    status = await self._request(key)
            except (OSError, TimeoutError) as exc:
                raise CdnPurgeError(f"PURGE {key}: {type(exc).__name__}") from exc
        # 404/412: nothing cached under that path, which is the state we want.
        if status >= 400 and status not in (404, 412):
            raise CdnPurgeError(f"PURGE {key}: HTTP {status}")
        self.purged.append(key)
        del self.purged[:-1000]

    async def purge(self, paths: Sequence[str]) -> None:
        results = await asyncio.gather(*(self._one(p) for p in paths), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            log.warning("CDN purge: %d of %d paths failed, e.g. %s", len(failures), len(paths), failures[0])
            raise CdnPurgeError(f"{len(failures)} of {len(paths)} purges failed") from failures[0]

    async def aclose(self) -> None:
        return None


class CloudFrontPurger:
    """Invalidates paths on a CloudFront distribution. CloudFront bills invalidations per path and queues
    at most 3000 paths in progress per distribution, so paths go in one request per batch."""

    MAX_PATHS = 3000

    def __init__(self, distribution_id: str, *, client: Any = None, timeout: float = 5.0) -> None:
        if client is None:
            import boto3
            from botocore.config import Config

            # A global service: its API lives in us-east-1 whatever region the gateway runs in.
            client = boto3.client(
                "cloudfront",
                region_name="us-east-1",
                config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"mode": "standard"}),
            )
        self.distribution_id = distribution_id
        self._client = client
        self.purged: list[str] = []

    async def purge(self, paths: Sequence[str]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        items = sorted({"/" + quote(p.lstrip("/"), safe="/") for p in paths})
        for start in range(0, len(items), self.MAX_PATHS):
            batch = items[start : start + self.MAX_PATHS]
            try:
                await asyncio.to_thread(
                    self._client.create_invalidation,
                    DistributionId=self.distribution_id,
                    InvalidationBatch={
                        "Paths": {"Quantity": len(batch), "Items": batch},
                        "CallerReference": f"streamgate-{time.time_ns()}-{uuid.uuid4().hex[:8]}",
                    },
                )
            except (BotoCoreError, ClientError) as exc:
                log.warning("CloudFront invalidation of %d paths failed: %s", len(batch), exc)
                raise CdnPurgeError(f"CloudFront invalidation of {len(batch)} paths failed: {exc}") from exc
            self.purged.extend(batch)
            del self.purged[:-1000]

    async def aclose(self) -> None:
        return None


class Purger(Protocol):
    purged: list[str]

    async def purge(self, paths: Sequence[str]) -> None: ...

    async def aclose(self) -> None: ...


class EdgeCachedOnly:
    """Purges only what an edge may cache: the catalog's keys (`catalog/...`) are API answers the edge
    never stores, so purging them would only spend requests (and CloudFront invalidation paths)."""

    def __init__(self, purger: Purger) -> None:
        self.purger = purger

    async def purge(self, paths: Sequence[str]) -> None:
        edge = [p for p in paths if not p.startswith("catalog/")]
        if edge:
            await self.purger.purge(edge)


def purger_for(settings: CdnSettings) -> Purger | None:
    """The purger the settings name (a CloudFront distribution wins over an HTTP purge URL), or None."""
    if settings.cloudfront_distribution_id:
        return CloudFrontPurger(settings.cloudfront_distribution_id, timeout=settings.purge_timeout_seconds)
    if settings.purge_url:
        return HttpCdnPurger(
            settings.purge_url, timeout=settings.purge_timeout_seconds, concurrency=settings.purge_concurrency
        )
    return None
