"""The one HTTP client of the automation and the local platform: requests.

Why requests: our Prometheus provider (prometheus-api-client) is built on it and the kubernetes client needs
it, so it is a dependency already; one `Session` carries a cluster's CA bundle and an auth object that
refreshes its token, which is what reaching Prometheus, the Pushgateway and smoke checks through a cluster's
API server needs; blocking calls run off the event loop with `asyncio.to_thread`, as every other SDK call
of the adapters does. (httpx, used only for webhooks, was a development dependency; urllib needs an SSL
context and an error path per call.)

`send` never raises for an HTTP status or a server that does not answer: callers decide what a status means.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

import requests
from requests.auth import AuthBase


class Answer(NamedTuple):
    status: int  # 0: nothing answered (see `error`)
    headers: Mapping[str, str]  # case-insensitive
    body: bytes
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.body)

    def describe(self) -> str:
        return f"HTTP {self.status}" if self.status else self.error


def session(*, verify: str | bool = True, auth: AuthBase | None = None) -> requests.Session:
    """A session that trusts `verify` (a CA bundle path, or the default store) and authenticates with `auth`."""
    s = requests.Session()
    s.verify = verify
    s.auth = auth
    return s


def send(
    method: str,
    url: str,
    *,
    timeout: float,
    body: bytes | None = None,
    json_body: Any = None,
    headers: Mapping[str, str] | None = None,
    via: requests.Session | None = None,
) -> Answer:
    try:
        response = (via or requests).request(
            method, url, data=body, json=json_body, headers=dict(headers or {}), timeout=timeout
        )
    except (requests.RequestException, ValueError) as exc:
        return Answer(0, {}, b"", f"{method} {url}: {exc}")
    return Answer(response.status_code, response.headers, response.content)


def get(url: str, timeout: float, *, via: requests.Session | None = None) -> Answer:
    return send("GET", url, timeout=timeout, via=via)
