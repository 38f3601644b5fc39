"""The deploy workflow's smoke check through the CDN, against a local server answering as the gateway's
`/version` does (JSON naming the region that served it)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from infra.ci import smoke


class Edge:
    """Answers 503 `failures` times (a distribution still deploying), then 200 from `region`."""

    def __init__(self, region: str, failures: int) -> None:
        self.region, self.failures, self.seen = region, failures, 0
        edge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                edge.seen += 1
                ok = edge.seen > edge.failures and self.path == "/version"
                body = json.dumps({"version": "0.1.0", "region": edge.region} if ok else {}).encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/version"


@pytest.fixture
def edge(request: pytest.FixtureRequest) -> Iterator[Edge]:
    region, failures = request.param
    e = Edge(region, failures)
    threading.Thread(target=e.server.serve_forever, daemon=True).start()
    yield e
    e.server.shutdown()
    e.server.server_close()


@pytest.mark.parametrize("edge", [("us-east-1", 2)], indirect=True)
def test_passes_once_the_edge_answers_from_a_region(edge: Edge, capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main([edge.url, "--attempts", "4", "--interval", "0.05"]) == 0
    out = capsys.readouterr().out
    assert edge.seen == 3 and out.count("→ 503") == 2 and "→ 200 from us-east-1" in out and "smoke ok" in out


@pytest.mark.parametrize("edge", [("eu-west-1", 0)], indirect=True)
def test_fails_when_the_wrong_region_answers(edge: Edge, capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main([edge.url, "--region", "us-east-1", "--attempts", "2", "--interval", "0.05"]) == 1
    assert (
        edge.seen == 2 and "smoke failed: no 200 from us-east-1 after 2 attempts" in capsys.readouterr().out
    )


@pytest.mark.parametrize("edge", [("us-east-1", 100)], indirect=True)
def test_fails_when_the_edge_never_recovers(edge: Edge) -> None:
    assert smoke.main([edge.url, "--attempts", "3", "--interval", "0.05"]) == 1 and edge.seen == 3


def test_a_url_that_is_not_http_is_bad_input() -> None:
    assert smoke.main(["d111.cloudfront.net/version"]) == 2
