"""The edges in front of the gateway bound request heads too: the local platform's nginx (run here from its
rendered config, without the rest of the platform) and the ingress-nginx controller's values."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.config import load_stack
from infra.local.platform import LocalPlatform
from tests.local_platform import free_base_port, render_configs
from tests.servers import LOOPBACK, port_open, wait_until

BOUNDS = {
    "client_header_buffer_size": "1k",
    "large_client_header_buffers": "4 8k",
    "client_header_timeout": "10s",
    "client_body_timeout": "10s",
}


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[tuple[LocalPlatform, int]]:
    """The rendered local nginx, running alone (its upstreams are down: only what nginx itself answers
    is tested)."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx missing")
    plat = LocalPlatform(load_stack("local"), base_port=free_base_port(2), state_dir=tmp_path)
    render_configs(plat)
    proc = subprocess.Popen(plat.router.nginx.argv(), stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: port_open(plat.layout.edge), 10, "the edge nginx")
        yield plat, plat.layout.edge
    finally:
        proc.terminate()
        proc.wait(10)


def _ask(port: int, request: bytes) -> bytes:
    with socket.create_connection((LOOPBACK, port), timeout=5) as sock:
        sock.sendall(request)
        return sock.recv(4096)


def test_the_local_edge_refuses_oversized_heads(edge: tuple[LocalPlatform, int]) -> None:
    plat, port = edge
    conf = plat.paths.nginx_conf.read_text()
    for directive, value in BOUNDS.items():
        assert f"    {directive} {value};" in conf, directive
    long_line = b"GET /healthz HTTP/1.1\r\nHost: edge\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n"
    assert _ask(port, long_line).startswith(b"HTTP/1.1 400")  # one header over 8 KiB
    many = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"b" * 7000) for i in range(6))  # 42 KiB in all
    assert _ask(port, b"GET /healthz HTTP/1.1\r\nHost: edge\r\n" + many + b"\r\n").startswith(b"HTTP/1.1 400")
    url = b"/" + b"u" * 9000
    assert _ask(port, b"GET " + url + b" HTTP/1.1\r\nHost: edge\r\n\r\n").startswith(b"HTTP/1.1 414")


def test_the_ingress_controller_bounds_heads_and_bodies() -> None:
    from infra.plan import run_plan

    plan = run_plan(load_stack("prod"))
    releases = [
        r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "ingress-nginx"
    ]
    assert releases  # one per region
    for release in releases:
        assert release.inputs["values"]["controller"]["config"] == {
            "client-header-buffer-size": "1k",
            "large-client-header-buffers": "4 8k",
            "client-header-timeout": "10",
            "client-body-timeout": "10",
        }
