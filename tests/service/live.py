"""A real gateway process (`python -m runtime.service`, uvicorn with uvloop + httptools) on a free port."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.servers import LOOPBACK, free_port, stop

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LiveGateway:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


def gateway_env(redis_url: str, moto_url: str, port: int, **extra: str) -> dict[str, str]:
    """The environment a gateway process needs (the same variables supervisord sets on the platform)."""
    env = {
        "STREAMGATE_VERSION": "9.9.9",
        "STREAMGATE_COLOR": "blue",
        "STREAMGATE_REGION": "local-a",
        "STREAMGATE_SERVER__HOST": LOOPBACK,
        "STREAMGATE_SERVER__PORT": str(port),
        "STREAMGATE_SERVER__WORKERS": "1",
        "STREAMGATE_SERVER__LOG_LEVEL": "warning",
        "STREAMGATE_REDIS__URL": redis_url,
        "STREAMGATE_STORAGE__BUCKET": "streamgate-live",
        "STREAMGATE_STORAGE__ENDPOINT_URL": moto_url,
        "STREAMGATE_STORAGE__REGION": "us-east-1",
        "STREAMGATE_STORAGE__CREATE_BUCKET": "true",
        "STREAMGATE_SECURITY__ENCRYPTION__KMS_ENDPOINT_URL": moto_url,
        "STREAMGATE_SECURITY__ENCRYPTION__REGION": "us-east-1",
        "STREAMGATE_AUTH__SIGNING_KEY": "live-signing-key-0123456789abcdef",
        # boto3 needs credentials even against moto: fake ones, never real.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env.update(extra)
    return env


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def live_gateway(
    env: Mapping[str, str], port: int | None = None, *, open_files: int | None = None
) -> Iterator[LiveGateway]:
    """`python -m runtime.service` with `env`, ready to serve; `open_files`: start it with that soft limit
    on open descriptors (the hard limit unchanged)."""
    port = port or int(env["STREAMGATE_SERVER__PORT"])
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STREAMGATE_")},
        **env,
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "runtime.service"]
    if open_files is not None:  # prlimit (util-linux) execs the command: the pid stays the gateway's
        command = ["prlimit", f"--nofile={open_files}:", *command]
    proc = subprocess.Popen(command, env=full, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not _ready(port):
            if proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {proc.returncode} before it was ready")
            if time.monotonic() > deadline:
                raise TimeoutError(f"gateway on {port} not ready within 30 s")
            time.sleep(0.1)
        yield LiveGateway(port, proc)
    finally:
        stop(proc)


__all__ = ["LiveGateway", "free_port", "gateway_env", "live_gateway"]
