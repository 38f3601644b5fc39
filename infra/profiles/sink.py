"""The local platform's stand-in for Pyroscope: a loopback HTTP server that accepts the `pyroscope-io`
agent's pushes (`POST /push.v1.PusherService/Push`) and keeps each profile as gzipped pprof in the object
store (infra/profiles/store.py), as moto stands in for S3. Clusters run Pyroscope itself.

    python -m infra.profiles.sink --port N --endpoint http://127.0.0.1:M --bucket B
"""

from __future__ import annotations

import argparse
import gzip
import logging
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from infra.profiles import push
from infra.profiles.errors import ProfileFormatError
from infra.profiles.store import ProfileStore

log = logging.getLogger("infra.profiles.sink")
MAX_BODY = 16 * 1024 * 1024  # a push holds one upload interval of one process: kilobytes in practice
READY = "/ready"


class _Handler(BaseHTTPRequestHandler):
    server: ProfileSink
    protocol_version = "HTTP/1.1"  # the agent keeps its connection open between pushes

    def do_GET(self) -> None:
        if self.path == READY:
            self._answer(200, b"ready\n", "text/plain")
        else:
            self._answer(404, b"not found\n", "text/plain")

    def do_POST(self) -> None:
        if self.path != push.PATH:
            self._answer(404, b"not found\n", "text/plain")
            return
        size = int(self.headers.get("content-length") or 0)
        if size <= 0 or size > MAX_BODY:
            self._answer(413 if size > MAX_BODY else 400, b"bad content-length\n", "text/plain")
            return
        body = self.rfile.read(size)
        try:
            if self.headers.get("content-encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
            profiles = push.decode(body)
        except (ProfileFormatError, OSError, EOFError, zlib.error) as exc:
            self._answer(400, f"not a push request: {exc}\n".encode(), "text/plain")
            return
        try:
            for p in profiles:
                self.server.store.put(p.labels, p.pprof)
        except Exception as exc:  # the object store failed: the agent retries with its next push
            log.warning("storing %d pushed profile(s) failed: %s", len(profiles), exc)
            self._answer(503, b"object store unavailable\n", "text/plain")
            return
        self.server.stored += len(profiles)
        self._answer(200, b"", "application/proto")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


class ProfileSink(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: ProfileStore) -> None:
        super().__init__(address, _Handler)
        self.store = store
        self.stored = 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--endpoint", required=True, help="the S3 API (moto's server locally)")
    parser.add_argument("--bucket", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from infra.local.aws import s3_client

    sink = ProfileSink((args.host, args.port), ProfileStore(s3_client(args.endpoint), args.bucket))
    log.info("profile receiver on %s:%d → s3://%s", args.host, args.port, args.bucket)
    try:
        sink.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sink.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
