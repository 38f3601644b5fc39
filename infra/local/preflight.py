"""Before starting anything: every binary and nginx module exists, and every port is free (or already ours).

A failure names the Debian package and the exact apt-get line, or the busy port and what uses it, so the
user can fix it without reading code.
"""

from __future__ import annotations

import shutil
import socket
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from infra.local.errors import PreflightError
from infra.local.layout import LOOPBACK

NGINX_MODULES_DIR = Path("/usr/lib/nginx/modules")


@dataclass(frozen=True)
class Requirement:
    """One file the platform runs: a binary on PATH (or in the venv) or an nginx dynamic module."""

    what: str
    package: str
    module: bool = False  # an nginx module under NGINX_MODULES_DIR rather than a binary

    def locate(self) -> Path | None:
        if self.module:
            path = NGINX_MODULES_DIR / self.what
            return path if path.is_file() else None
        venv_bin = Path(sys.executable).parent / self.what
        if venv_bin.is_file():
            return venv_bin
        found = shutil.which(self.what)
        # Debian puts nginx in /usr/sbin, which a non-root PATH often lacks.
        if found is None and Path("/usr/sbin", self.what).is_file():
            return Path("/usr/sbin", self.what)
        return Path(found) if found else None


REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("redis-server", "redis-server"),
    Requirement("nginx", "nginx"),
    Requirement("ngx_stream_module.so", "libnginx-mod-stream", module=True),
    Requirement("ngx_http_cache_purge_module.so", "libnginx-mod-http-cache-purge", module=True),
    Requirement("prometheus", "prometheus"),
    Requirement("promtool", "prometheus"),
    Requirement("prometheus-alertmanager", "prometheus-alertmanager"),
    Requirement("prometheus-pushgateway", "prometheus-pushgateway"),
    Requirement("prometheus-redis-exporter", "prometheus-redis-exporter"),
    Requirement("ffmpeg", "ffmpeg"),  # generates the sample title; `local smoke` plays it
)
PYTHON_REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("supervisord", "supervisor (PyPI: make setup)"),
    Requirement("moto_server", "moto[server] (PyPI: make setup)"),
)


def locate_all(requirements: Iterable[Requirement] = REQUIREMENTS + PYTHON_REQUIREMENTS) -> dict[str, Path]:
    """Paths of every requirement; PreflightError listing all that are missing and how to install them."""
    found: dict[str, Path] = {}
    missing: list[Requirement] = []
    for req in requirements:
        path = req.locate()
        if path is None:
            missing.append(req)
        else:
            found[req.what] = path
    if missing:
        debian = sorted({r.package for r in missing if "PyPI" not in r.package})
        python = sorted({r.package for r in missing if "PyPI" in r.package})
        lines = [f"missing: {', '.join(r.what + ' (' + r.package + ')' for r in missing)}"]
        if debian:
            lines.append(f"install with: sudo apt-get install -y --no-install-recommends {' '.join(debian)}")
        if python:
            lines.append("install the Python environment with: make setup")
        raise PreflightError("; ".join(lines))
    return found


def port_free(port: int) -> bool:
    """True if nothing listens on 127.0.0.1:port (SO_REUSEADDR ignores sockets lingering in TIME_WAIT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def check_ports(owners: Mapping[int, str], ours: set[str]) -> None:
    """Every port must be free unless the program owning it is one of ours that is running."""
    busy = [
        (port, owner) for port, owner in sorted(owners.items()) if owner not in ours and not port_free(port)
    ]
    if busy:
        listed = ", ".join(f"{LOOPBACK}:{port} (needed by {owner})" for port, owner in busy)
        raise PreflightError(
            f"port(s) already in use: {listed}; stop what listens there (`ss -ltnp 'sport = :{busy[0][0]}'` "
            "shows it) or choose other ports with --base-port N"
        )
