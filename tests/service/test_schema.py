"""Schemathesis against the OpenAPI document of a real gateway process: no generated input gets a 5xx, and
every status code is one the document declares. Bounded examples keep it well under 30 s."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error, status_code_conformance

from tests.servers import MotoServer, RedisServer
from tests.service.live import LiveGateway, free_port, gateway_env, live_gateway

# Rendition sets are uploaded as tar archives: generated bodies are sent as raw bytes, like octet-stream.
schemathesis.serializer.alias("application/x-tar", "application/octet-stream")


@pytest.fixture(scope="module")
def live(redis_session: RedisServer, moto: MotoServer) -> Iterator[LiveGateway]:
    port = free_port()
    with live_gateway(
        gateway_env(redis_session.url, moto.url, port, STREAMGATE_PROFILING__MAX_SECONDS="0.2")
    ) as gw:
        yield gw


def _fuzz(schema: BaseSchema, mode: GenerationMode, examples: int, checks: list[Any]) -> list[str]:
    """Run every operation's strategy; returns the failures (operation and error) instead of stopping."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Case) -> None:
            case.call_and_validate(checks=checks, timeout=10)

        try:
            run()
        except Unsatisfiable:
            continue  # negative mode on an operation without inputs: nothing to break
        except Exception as exc:  # collect every operation's failure, then report all
            failures.append(f"{operation.label} [{mode.value}]: {type(exc).__name__}: {str(exc)[:500]}")
    return failures


def test_no_input_causes_a_server_error(live: LiveGateway) -> None:
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    assert len(list(schema.get_all_operations())) >= 13
    failures = _fuzz(schema, GenerationMode.POSITIVE, 10, [not_a_server_error, status_code_conformance])
    failures += _fuzz(schema, GenerationMode.NEGATIVE, 6, [not_a_server_error])
    assert not failures, "\n".join(failures)


def test_live_process_serves_over_http(live: LiveGateway) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{live.url}/version", timeout=5) as response:
        assert response.status == 200
        assert b'"color":"blue"' in response.read()
        assert response.headers["date"]
        assert "server" not in response.headers  # no software banner
    with urllib.request.urlopen(f"{live.url}/metrics", timeout=5) as response:
        assert b'streamgate_build_info{color="blue",region="local-a",version="9.9.9"} 1.0' in response.read()


def test_operator_cli_token_mfa_and_upload(
    live: LiveGateway, redis_session: RedisServer, moto: MotoServer
) -> None:
    """The commands an operator (or the local platform's smoke test) uses: enrol TOTP, issue a token,
    upload with the TOTP code, read it back with the tier header."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    import pyotp

    from tests.service.live import ROOT

    env = {
        **os.environ,
        **gateway_env(redis_session.url, moto.url, live.port),
        "PYTHONPATH": str(ROOT),
    }

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "runtime.service", *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    secret = cli("enroll-mfa", "--subject", "smoke").split("secret: ", 1)[1].split()[0]
    token = cli("token", "--subject", "smoke", "--scope", "admin", "--ttl", "300").strip()
    code = pyotp.TOTP(secret).at(time.time() + 30)  # the enrolment used the current step
    put = urllib.request.Request(
        f"{live.url}/v1/content/smoke/manifest",
        data=b"#EXTM3U\n",
        method="PUT",
        headers={
            "Authorization": f"Bearer {token}",
            "X-StreamGate-MFA": code,
            "Content-Type": "application/vnd.apple.mpegurl",
        },
    )
    with urllib.request.urlopen(put, timeout=10) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"{live.url}/v1/content/smoke/manifest", timeout=5) as response:
        assert response.read() == b"#EXTM3U\n"
        assert response.headers["X-StreamGate-Cache"] == "origin"
    with urllib.request.urlopen(f"{live.url}/v1/content/smoke/manifest", timeout=5) as response:
        assert response.headers["X-StreamGate-Cache"] == "l1"
