"""Health probes, one per part: each answers (healthy, detail) quickly and never raises."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from infra import http
from infra.local.layout import COLORS, LOOPBACK, Layout, gateway_program

TIMEOUT = 1.0


@dataclass(frozen=True)
class Probe:
    part: str  # the supervisord program it checks
    what: str  # shown to the user
    check: Callable[[], tuple[bool, str]]


def http_ok(url: str, expect: Callable[[bytes], bool] | None = None) -> tuple[bool, str]:
    answer = http.get(url, TIMEOUT)
    if not answer.status:
        return False, answer.error
    if not answer.ok:
        return False, f"HTTP {answer.status} from {url}"
    if expect is not None and not expect(answer.body):
        return False, f"{url}: unexpected answer {answer.body[:120]!r}"
    return True, f"HTTP {answer.status}"


def redis_info(port: int, section: str = "replication") -> dict[str, str]:
    """INFO over a raw socket: avoids a client library for one probe and answers within TIMEOUT."""
    with socket.create_connection((LOOPBACK, port), timeout=TIMEOUT) as s:
        s.sendall(f"INFO {section}\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            header, _, rest = data.partition(b"\r\n")
            if header.startswith(b"-"):
                raise OSError(header[1:].decode())
            if header.startswith(b"$") and len(rest) >= int(header[1:]):
                break
    info: dict[str, str] = {}
    for line in rest.decode().splitlines():
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            info[key] = value
    return info


def redis_probe(port: int) -> tuple[bool, str]:
    try:
        info = redis_info(port)
    except (OSError, ValueError) as exc:
        return False, f"redis on {port}: {exc}"
    role = info.get("role", "?")
    if role == "slave":
        link = info.get("master_link_status", "down")
        if link != "up":
            return False, f"replica, link to {info.get('master_port')} is {link}"
        return True, f"replica of :{info.get('master_port')}, link up"
    return True, f"primary, {info.get('connected_slaves', '0')} replica(s)"


def _redis_up(body: bytes) -> bool:
    return b"redis_up 1" in body


def ready(body: bytes) -> bool:
    """A gateway's /readyz answer says it can serve."""
    return bool(json.loads(body).get("ready"))


def catalog_probe(port: int) -> tuple[bool, str]:
    from infra.local.catalog import probe

    return probe(port)


def probes(layout: Layout) -> list[Probe]:
    """Every probe of the platform, in the order `status` shows them."""
    url = layout.url
    out = [
        Probe("moto", "S3/KMS (moto, in memory)", partial(http_ok, f"{layout.moto_url}/moto-api/data.json")),
        Probe("nginx", "edge", partial(http_ok, f"{layout.edge_url}/-/healthz")),
        Probe("prometheus", "Prometheus", partial(http_ok, f"{layout.prometheus_url}/-/ready")),
        Probe("alertmanager", "Alertmanager", partial(http_ok, f"{layout.alertmanager_url}/-/ready")),
        Probe("pushgateway", "Pushgateway", partial(http_ok, f"{layout.pushgateway_url}/-/ready")),
        Probe("profiles", "profile receiver", partial(http_ok, f"{layout.profiles_url}/ready")),
    ]
    for r in layout.regions:
        out += [
            Probe(f"redis-{r.name}", f"Redis node {r.name}", partial(redis_probe, r.redis)),
            Probe(f"postgres-{r.name}", f"PostgreSQL {r.name}", partial(catalog_probe, r.postgres)),
            Probe(
                f"redis-exporter-{r.name}",
                f"Redis exporter {r.name}",
                partial(http_ok, url(r.redis_exporter) + "/metrics", _redis_up),
            ),
            Probe("nginx", f"Redis endpoint {r.name}", partial(redis_probe, r.redis_endpoint)),
            Probe("nginx", f"router {r.name}", partial(http_ok, url(r.router) + "/-/healthz")),
        ]
        for color in COLORS:
            out.append(
                Probe(
                    gateway_program(r.name, color),
                    f"gateway {r.name} {color}",
                    partial(http_ok, url(r.gateway(color)) + "/readyz", ready),
                )
            )
    return out
