"""Hostile input: every malformed request gets a 4xx at a bounded cost, never a 5xx, and no connection
can hold unbounded memory or time.

- In process (the app with its real Redis and S3): hypothesis over methods, paths, headers, tokens and
  bodies with hostile strategies (huge and non-ASCII numbers, deep JSON, non-ASCII tokens, ...).
- A real gateway process (uvicorn + httptools + our protocol): request heads of 64 MiB, 1 MiB request
  lines, a client trickling a byte at a time, idle connections, and raw hostile bytes, with the process's
  RSS watched throughout.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runtime.service.tokens import Scope
from tests.servers import LOOPBACK, MotoServer, RedisServer
from tests.service.conftest import AppFactory, Running
from tests.service.live import LiveGateway, free_port, gateway_env, live_gateway

# --- strategies ----------------------------------------------------------------------------------------

LATIN1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
TEXT = st.text(LATIN1, max_size=80)
# Long digit runs are the point (int() refuses more than 4300 digits): lengths around the edges, often.
LENGTHS = st.one_of(st.sampled_from([18, 19, 20, 64, 4300, 4301, 5000]), st.integers(1, 6000))
DIGITS = st.one_of(LENGTHS.map(lambda n: "9" * n), st.integers(0, 2**70).map(str))
NUMBERISH = st.one_of(DIGITS, st.sampled_from(["-1", "1.5", "1e9", "²", "³¹", " 7", "0x10", "", "07", "1 2"]))
HOSTILE = st.one_of(TEXT, NUMBERISH, st.text(alphabet='[]{}",:\\', max_size=40))
RANGE = st.one_of(
    st.builds("bytes={}-{}".format, NUMBERISH, NUMBERISH),
    st.builds("bytes=-{}".format, NUMBERISH),
    st.builds("bytes={}-".format, NUMBERISH),
    st.builds("{}={}".format, TEXT, TEXT),
)
TOKEN = st.one_of(
    st.sampled_from(["none", "viewer", "admin", "step-up"]),
    st.builds(lambda t: "Bearer " + t, HOSTILE),
    st.builds(lambda t: "Bearer sg1." + t, HOSTILE),
)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "range": st.one_of(RANGE, HOSTILE),
        "if-range": st.one_of(st.just('"x"'), HOSTILE),
        "if-none-match": st.one_of(st.just('"x", W/"y", *'), HOSTILE),
        "traceparent": st.one_of(st.builds("00-{}-{}-01".format, HOSTILE, HOSTILE), HOSTILE),
        "tracestate": HOSTILE,
        "x-streamgate-mfa": HOSTILE,
        "content-type": HOSTILE,
        "x-forwarded-for": HOSTILE,
        "cookie": HOSTILE,
    },
)
ID = st.one_of(st.just("show1"), TEXT, DIGITS, st.sampled_from(["..", ".", "%00", "a/b", "a b", "%ff"]))
PATH = st.one_of(
    st.builds("/v1/content/{}/segments/{}".format, ID, NUMBERISH),
    st.builds("/v1/content/{}/manifest".format, ID),
    st.builds(lambda t: "/" + t, TEXT),
    st.builds(lambda t: "/v1/" + t, TEXT),
)
QUERY = st.one_of(st.just(""), st.builds("seconds={}&format={}".format, NUMBERISH, TEXT), TEXT)
EVENT = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.sampled_from(["start", "stop", "error"]), HOSTILE),
        "session_id": HOSTILE,
        "content_id": HOSTILE,
        "ts": st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**80), 2**80)),
        "bitrate_kbps": st.integers(-(2**70), 2**70),
        "played_seconds": st.floats(allow_nan=False, allow_infinity=False),
    },
)
BODY = st.one_of(
    st.binary(max_size=2048),
    st.one_of(st.sampled_from([900, 1100, 5000, 20_000]), st.integers(1, 20_000)).map(
        lambda n: b"[" * n + b"]" * (n % 3)
    ),  # deep nesting
    st.builds(lambda n: b'{"events": [' + b"1" * n + b"]}", LENGTHS),  # huge numbers
    st.lists(EVENT, max_size=5).map(lambda events: json.dumps({"events": events}).encode()),
    st.fixed_dictionaries(
        {},
        optional={
            "error_rate": st.one_of(st.floats(), HOSTILE),
            "latency_seconds": st.one_of(st.floats(), HOSTILE),
        },
    ).map(lambda d: json.dumps(d).encode()),
)
BODY_ROUTES = st.sampled_from(
    [
        ("POST", "/v1/events"),
        ("PUT", "/v1/admin/faults"),
        ("PUT", "/v1/content/fuzz/segments/1"),
        ("PUT", "/v1/content/fuzz/manifest"),
        ("POST", "/v1/auth/step-up"),
        ("POST", "/v1/admin/profile"),
    ]
)
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
async def app(make_gateway: AppFactory) -> AsyncIterator[Running]:
    """The app with stored content (so conditional and range headers get read), over real Redis and S3;
    its client reports an unhandled error as the 500 a server would send."""
    gw = await make_gateway(profiling={"max_seconds": 0.05})
    admin = await gw.step_up()
    for path in ("/v1/content/show1/segments/0", "/v1/content/show1/manifest"):
        assert (await gw.client.put(path, content=b"0123456789" * 100, headers=admin)).status_code == 200
    transport = httpx.ASGITransport(app=gw.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield Running(gw.app, client)


def _auth(gw: Running, token: str) -> str:
    """An Authorization value: a real token of a kind (`viewer`, `admin`, `step-up`) or the given text."""
    if token not in ("none", "viewer", "admin", "step-up"):
        return token
    scope = Scope.VIEWER if token == "viewer" else Scope.ADMIN
    mfa = time.time() if token == "step-up" else None
    return "Bearer " + gw.gateway.signer.issue("fuzz", scope, 300, mfa_at=mfa)


async def _send(
    gw: Running, method: str, url: str, headers: dict[str, str], token: str, body: bytes | None
) -> None:
    raw = {k.encode(): v.encode("latin-1") for k, v in headers.items()}
    if token != "none":
        raw[b"authorization"] = _auth(gw, token).encode("latin-1")
    started = time.monotonic()
    try:
        response = await gw.client.request(method, url, headers=raw, content=body)
    finally:
        faults = gw.gateway.faults
        faults.error_rate, faults.latency_seconds = 0.0, 0.0  # a fuzzed PUT may have switched them on
    assert response.status_code < 500, (method, url, headers, response.status_code, response.text[:300])
    assert time.monotonic() - started < 10  # bounded cost (generous: the machine is shared)


def _url(path: str, query: str = "") -> str:
    return urllib.parse.quote(path, safe="/%") + ("?" + urllib.parse.quote(query, safe="=&") if query else "")


@FUZZ
@given(
    method=st.sampled_from(["GET", "HEAD"]),
    path=st.sampled_from(["/v1/content/show1/segments/0", "/v1/content/show1/manifest"]),
    headers=HEADERS,
    token=TOKEN,
)
@example(
    method="GET",
    path="/v1/content/show1/segments/0",
    headers={"range": "bytes=" + "9" * 5000 + "-"},
    token="none",
)
@example(method="GET", path="/v1/content/show1/segments/0", headers={"range": "bytes=²-5"}, token="none")
@example(method="GET", path="/v1/content/show1/manifest", headers={}, token="Bearer sg1.x.\xe9")
async def test_hostile_headers(
    app: Running, method: str, path: str, headers: dict[str, str], token: str
) -> None:
    await _send(app, method, path, headers, token, None)


@FUZZ
@given(
    method=st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"]),
    path=PATH,
    query=QUERY,
    token=TOKEN,
)
@example(method="GET", path="/v1/content/show1/segments/" + "9" * 5000, query="", token="none")
@example(method="PUT", path="/v1/content/show1/segments/" + "9" * 40, query="", token="step-up")
async def test_hostile_paths(app: Running, method: str, path: str, query: str, token: str) -> None:
    await _send(app, method, _url(path, query), {}, token, b"x" if method in ("PUT", "POST") else None)


@FUZZ
@given(
    route=BODY_ROUTES,
    body=BODY,
    token=st.one_of(st.just("step-up"), TOKEN),
    headers=st.fixed_dictionaries({}, optional={"content-type": HOSTILE, "content-length": NUMBERISH}),
    query=QUERY,
)
@example(route=("POST", "/v1/events"), body=b"[" * 5000, token="none", headers={}, query="")
@example(route=("PUT", "/v1/admin/faults"), body=b"[" * 5000, token="step-up", headers={}, query="")
@example(route=("POST", "/v1/events"), body=b"{}", token="none", headers={"content-length": "²"}, query="")
async def test_hostile_bodies(
    app: Running,
    route: tuple[str, str],
    body: bytes,
    token: str,
    headers: dict[str, str],
    query: str,
) -> None:
    method, path = route  # a content-length header, if drawn, may lie about the body
    await _send(app, method, _url(path, query), headers, token, body)


# --- a real gateway process ----------------------------------------------------------------------------

HEAD_TIMEOUT = 1.5
OPEN_FILES = 256  # the soft limit the gateway is started with: it must lift it to the hard one


@pytest.fixture(scope="module")
def live(redis_session: RedisServer, moto: MotoServer) -> Iterator[LiveGateway]:
    port = free_port()
    env = gateway_env(
        redis_session.url,
        moto.url,
        port,
        STREAMGATE_SERVER__HEADER_TIMEOUT_SECONDS=str(HEAD_TIMEOUT),
        STREAMGATE_SERVER__BODY_IDLE_TIMEOUT_SECONDS=str(HEAD_TIMEOUT),
    )
    with live_gateway(env, open_files=OPEN_FILES) as gw:
        yield gw


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _connect(gw: LiveGateway, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection((LOOPBACK, gw.port), timeout=timeout)


def _reply(sock: socket.socket) -> bytes:
    """What the server sends until it closes (or 5 s pass)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def _status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0


def test_a_64_mib_request_head_is_refused_at_the_bound(live: LiveGateway) -> None:
    before = rss_mib(live.proc.pid)
    sent = 0
    with _connect(live) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n")
        line = b"X-Pad: " + b"a" * 65536 + b"\r\n"
        try:
            while sent < 64 * 1024 * 1024:
                sock.sendall(line)
                sent += len(line)
        except OSError:
            pass  # the server closed on us: what we want
        reply = _reply(sock)
    assert _status(reply) == 431, reply[:200]
    assert sent < 8 * 1024 * 1024  # refused long before the end
    assert rss_mib(live.proc.pid) - before < 8


def test_a_1_mib_request_line_is_refused(live: LiveGateway) -> None:
    with _connect(live) as sock:
        with contextlib.suppress(OSError):  # the server may close before we are done
            sock.sendall(b"GET /" + b"a" * (1024 * 1024) + b" HTTP/1.1\r\nHost: gw\r\n\r\n")
        assert _status(_reply(sock)) == 431


def test_a_head_within_the_bound_is_served(live: LiveGateway) -> None:
    with _connect(live) as sock:
        pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"b" * 4000) for i in range(10))  # ~40 KiB
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n" + pad + b"Connection: close\r\n\r\n")
        assert _status(_reply(sock)) == 200


def test_a_trickled_head_is_cut_off(live: LiveGateway) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Slow: " + b"s" * 100 + b"\r\n\r\n"
    started = time.monotonic()
    with _connect(live) as sock:
        try:
            for byte in request:
                sock.sendall(bytes([byte]))
                time.sleep(0.05)
        except OSError:
            pass
        reply = _reply(sock)
    assert _status(reply) == 408, reply[:200]
    assert time.monotonic() - started < HEAD_TIMEOUT + 2


def test_idle_connections_are_closed(live: LiveGateway) -> None:
    started = time.monotonic()
    with _connect(live) as sock:
        assert _reply(sock) == b""  # closed without a word: nothing was asked
    assert HEAD_TIMEOUT - 0.2 < time.monotonic() - started < HEAD_TIMEOUT + 2
    with _connect(live) as sock:  # keep-alive still works, and the next head gets its own time
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
        time.sleep(HEAD_TIMEOUT + 0.3)  # idle between requests is keep-alive's (5 s), not the head's
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
        both = _reply(sock)
    assert both.count(b"HTTP/1.1 200 OK\r\n") == 2, both


def _requests(gw: LiveGateway, route: str, status_class: str) -> float:
    text = _reply_of(gw, b"GET /metrics HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n").decode()
    wanted = (f'route="{route}"', f'status_class="{status_class}"', 'method="POST"')
    for line in text.splitlines():
        if line.startswith("streamgate_http_requests_total{") and all(w in line for w in wanted):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _reply_of(gw: LiveGateway, request: bytes) -> bytes:
    with _connect(gw) as sock:
        sock.sendall(request)
        return _reply(sock)


def test_a_client_leaving_mid_body_is_not_a_server_error(live: LiveGateway) -> None:
    """A 5xx would count against the SLO, page someone and fail a canary: any client could cause it."""
    errors, client_errors = _requests(live, "/v1/events", "5xx"), _requests(live, "/v1/events", "4xx")
    for _ in range(3):
        with _connect(live) as sock:
            sock.sendall(b'POST /v1/events HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\n{"events"')
            sock.shutdown(socket.SHUT_WR)  # and gone, 91 bytes short
            _reply(sock)
    time.sleep(0.2)
    assert _requests(live, "/v1/events", "5xx") == errors
    assert _requests(live, "/v1/events", "4xx") == client_errors + 3


def test_a_stalled_body_ends_the_connection(live: LiveGateway) -> None:
    client_errors = _requests(live, "/v1/events", "4xx")
    started = time.monotonic()
    with _connect(live) as sock:
        sock.sendall(b'POST /v1/events HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\n{"events"')
        time.sleep(HEAD_TIMEOUT / 3)
        sock.sendall(b": [")  # still moving: the timeout counts from here
        assert _reply(sock) == b""  # then it stalls: closed, without a word
    assert HEAD_TIMEOUT < time.monotonic() - started < 2 * HEAD_TIMEOUT + 2
    time.sleep(0.2)
    assert _requests(live, "/v1/events", "4xx") == client_errors + 1  # the app saw the client go: 499


RAW_LINE = st.one_of(
    st.builds(lambda m, p, v: f"{m} {p} {v}".encode("latin-1"), st.text(LATIN1, max_size=12), TEXT, TEXT),
    st.builds(
        lambda p, n: f"GET /v1/content/x/segments/{'9' * n}{p} HTTP/1.1".encode(), TEXT, st.integers(0, 5000)
    ),
    st.binary(max_size=200),
)
RAW_HEADER = st.one_of(
    st.builds(lambda k, v: k.encode("latin-1") + b": " + v.encode("latin-1"), TEXT, TEXT),
    st.builds(lambda v: b"Content-Length: " + v.encode("latin-1"), NUMBERISH),
    st.builds(lambda v: b"Transfer-Encoding: " + v.encode("latin-1"), TEXT),
    st.builds(lambda v: b"Range: " + v.encode("latin-1"), RANGE),
    st.binary(max_size=100),
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(line=RAW_LINE, headers=st.lists(RAW_HEADER, max_size=8), body=st.binary(max_size=300))
def test_raw_hostile_bytes_never_get_a_5xx(
    live: LiveGateway, line: bytes, headers: list[bytes], body: bytes
) -> None:
    request = line + b"\r\nHost: gw\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body
    with _connect(live) as sock:
        sock.settimeout(HEAD_TIMEOUT + 3)
        try:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        reply = _reply(sock)
    status = _status(reply)
    assert status < 500, (request[:300], reply[:300])


def test_the_open_files_limit_is_lifted_to_the_hard_one(live: LiveGateway) -> None:
    """Each connection sending hot bodies holds two descriptors: a low soft limit would refuse clients."""
    limits = Path(f"/proc/{live.proc.pid}/limits").read_text()
    [line] = [line for line in limits.splitlines() if line.startswith("Max open files")]
    soft, hard = line.split()[3:5]
    hard_now = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert hard == str(hard_now) if hard_now != resource.RLIM_INFINITY else hard == "unlimited"
    assert soft == hard or int(soft) >= 1 << 20, line


def test_the_process_stays_small_after_all_that(live: LiveGateway) -> None:
    """Runs after the tests above (same module, in order): the gateway is alive and did not grow."""
    assert rss_mib(live.proc.pid) < 400
    with _connect(live) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
        assert _status(_reply(sock)) == 200
