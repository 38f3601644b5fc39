"""Prometheus through prometheus-api-client (sync) in a worker thread, always with explicit times.

The client's range helpers default their times at import (frozen), so every call here passes `time` or
start/end. Its default retry (3 tries, 1 s backoff) would turn an unreachable Prometheus into a tick that
overruns its interval: we retry once, quickly, and bound every request with a timeout.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests.auth import AuthBase
from urllib3.util.retry import Retry

from infra.automation.errors import MetricsError


class PrometheusMetrics:
    """The MetricsProvider for Prometheus' HTTP API."""

    def __init__(
        self,
        url: str,
        timeout_seconds: float = 5.0,
        *,
        auth: AuthBase | None = None,
        session: requests.Session | None = None,
    ) -> None:
        """`auth` and `session` (its CA): for a Prometheus behind a cluster's API server (KubeApi)."""
        self.url = url.rstrip("/")
        self.timeout = timeout_seconds
        retry = Retry(total=1, connect=1, read=0, backoff_factor=0.1, status_forcelist=[502, 503, 504])
        self._client = PrometheusConnect(
            url=self.url,
            retry=retry,
            timeout=math.ceil(timeout_seconds),
            auth=auth,  # typed as a tuple; requests takes any auth object
            session=session,
        )

    def close(self) -> None:
        self._client.close()

    async def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        try:
            result: Any = await asyncio.to_thread(fn, *args, **kwargs)
        except (requests.RequestException, PrometheusApiClientException, ValueError) as exc:
            raise MetricsError(f"Prometheus at {self.url}: {what} failed: {_short(exc)}") from exc
        if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
            return [{"metric": {}, "value": result}]  # a scalar result: [time, "value"]
        return list(result or [])

    async def query_vector(self, promql: str, at: datetime) -> list[tuple[dict[str, str], float]]:
        rows = await self._call("query", self._client.custom_query, promql, params={"time": at.timestamp()})
        return [(dict(row.get("metric", {})), float(row["value"][1])) for row in rows]

    async def query(self, promql: str, at: datetime) -> float | None:
        rows = await self.query_vector(promql, at)
        if not rows:
            return None
        if len(rows) > 1:
            raise MetricsError(
                f"query returned {len(rows)} series, expected one (aggregate it with sum(...)): {promql}"
            )
        value = rows[0][1]
        return value if math.isfinite(value) else None

    async def query_range(
        self, promql: str, start: datetime, end: datetime, step_seconds: float
    ) -> list[float]:
        return [v for _, v in await self.query_range_points(promql, start, end, step_seconds)]

    async def query_range_points(
        self, promql: str, start: datetime, end: datetime, step_seconds: float
    ) -> list[tuple[float, float]]:
        """(timestamp, value) of a single-series range query; steps without data are absent, not zero."""
        rows = await self._call(
            "range query",
            self._client.custom_query_range,
            promql,
            start_time=start,
            end_time=end,
            step=f"{step_seconds:g}s",
        )
        if len(rows) > 1:
            raise MetricsError(f"range query returned {len(rows)} series, expected one: {promql}")
        return [(float(t), float(v)) for t, v in rows[0].get("values", [])] if rows else []

    async def healthy(self) -> bool:
        try:
            return bool(await asyncio.to_thread(self._client.check_prometheus_connection))
        except Exception:
            return False


def _short(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, requests.ConnectionError):
        return "connection refused or unreachable"
    return text if len(text) < 200 else text[:200] + "…"
