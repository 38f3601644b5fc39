"""A stand-in for the GitHub REST API's issue-comment endpoints, on a loopback port, for the workflows'
comment script: list (paginated, with a `Link` header as GitHub sends it), create, update. It checks the
bearer token and the headers the documentation asks for, and records every request."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

LIST = re.compile(r"^/repos/([^/]+/[^/]+)/issues/(\d+)/comments$")
ONE = re.compile(r"^/repos/([^/]+/[^/]+)/issues/comments/(\d+)$")


@dataclass
class FakeGitHub:
    token: str
    url: str = ""
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    next_id: int = 1000

    def add(self, repo: str, number: int, body: str, user: str = "someone") -> dict[str, Any]:
        self.next_id += 1
        comment = {
            "id": self.next_id,
            "body": body,
            "user": {"login": user},
            "html_url": f"https://github.example/{repo}/pull/{number}#issuecomment-{self.next_id}",
        }
        self.comments.setdefault((repo, number), []).append(comment)
        return comment


def _handler(api: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            api.requests.append((self.command, self.path))
            if self.headers.get("Authorization") != f"Bearer {api.token}":
                self._reply(401, {"message": "Bad credentials"})
                return False
            if not self.headers.get("User-Agent") or "json" not in (self.headers.get("Accept") or ""):
                self._reply(400, {"message": "missing User-Agent or Accept"})
                return False
            return True

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            return dict(json.loads(self.rfile.read(length)))

        def do_GET(self) -> None:
            if not self._authorized():
                return
            parts = urlsplit(self.path)
            match = LIST.match(parts.path)
            if not match:
                self._reply(404, {"message": "Not Found"})
                return
            query = parse_qs(parts.query)
            per_page = min(int(query.get("per_page", ["30"])[0]), 100)
            page = int(query.get("page", ["1"])[0])
            found = api.comments.get((match.group(1), int(match.group(2))), [])
            chunk = found[(page - 1) * per_page : page * per_page]
            headers = {}
            if page * per_page < len(found):
                nxt = f"{api.url}{parts.path}?per_page={per_page}&page={page + 1}"
                headers["Link"] = f'<{nxt}>; rel="next", <{api.url}{parts.path}?page=1>; rel="first"'
            self._reply(200, chunk, headers)

        def do_POST(self) -> None:
            if not self._authorized():
                return
            match = LIST.match(urlsplit(self.path).path)
            if not match:
                self._reply(404, {"message": "Not Found"})
                return
            body = self._body()
            if len(body.get("body", "")) > 65_536:
                self._reply(422, {"message": "Body is too long (maximum is 65536 characters)"})
                return
            self._reply(
                201, api.add(match.group(1), int(match.group(2)), body["body"], "github-actions[bot]")
            )

        def do_PATCH(self) -> None:
            if not self._authorized():
                return
            match = ONE.match(urlsplit(self.path).path)
            wanted = int(match.group(2)) if match else -1
            for (repo, _), comments in api.comments.items():
                for comment in comments:
                    if match and repo == match.group(1) and comment["id"] == wanted:
                        body = self._body()
                        if len(body.get("body", "")) > 65_536:
                            self._reply(422, {"message": "Body is too long (maximum is 65536 characters)"})
                            return
                        comment["body"] = body["body"]
                        self._reply(200, comment)
                        return
            self._reply(404, {"message": "Not Found"})

    return Handler


@contextmanager
def fake_github(token: str = "ghs_test_token") -> Iterator[FakeGitHub]:
    api = FakeGitHub(token=token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
