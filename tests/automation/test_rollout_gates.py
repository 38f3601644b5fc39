"""Webhooks and gates: real HTTP endpoints and real commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from infra.automation.rollout.gates import run_hooks
from infra.config import WebhookConfig
from tests.servers import HttpReceiver, http_receiver

PAYLOAD = {"stack": "s", "region": "local-a", "version": "v2", "weight": 10}


@pytest.fixture
def hook_server() -> Iterator[tuple[str, HttpReceiver]]:
    with http_receiver() as receiver:
        yield receiver.url, receiver


async def test_http_hook_posts_the_rollout(hook_server: tuple[str, HttpReceiver]) -> None:
    url, hooks = hook_server
    hook = WebhookConfig(name="smoke", type="pre-rollout", url=f"{url}/smoke", metadata={"suite": "fast"})
    other = WebhookConfig(name="load", type="rollout", url=f"{url}/load")
    [result] = await run_hooks([hook, other], "pre-rollout", PAYLOAD)
    assert result.ok and result.name == "smoke" and "HTTP 200" in result.detail
    assert hooks.received == [
        ("/smoke", PAYLOAD | {"webhook": "smoke", "type": "pre-rollout", "metadata": {"suite": "fast"}})
    ]
    hooks.status = 503
    [failed] = await run_hooks([hook], "pre-rollout", PAYLOAD)
    assert not failed.ok and "HTTP 503" in failed.detail


async def test_unreachable_hook_fails() -> None:
    dead = WebhookConfig(name="dead", type="rollback", url="http://127.0.0.1:9/x", timeout_seconds=1)
    [result] = await run_hooks([dead], "rollback", PAYLOAD)
    assert not result.ok


async def test_command_hooks_get_the_payload_and_exit_codes_count(tmp_path: Any) -> None:
    out = tmp_path / "seen.json"
    ok = WebhookConfig(
        name="record",
        type="confirm-promotion",
        command=["sh", "-c", f'cat > {out}; test "$STREAMGATE_ROLLOUT_VERSION" = v2'],
    )
    [result] = await run_hooks([ok], "confirm-promotion", PAYLOAD)
    assert result.ok, result.detail
    assert json.loads(out.read_text())["weight"] == 10
    failing = WebhookConfig(name="no", type="confirm-promotion", command=["sh", "-c", "echo nope; exit 4"])
    [result] = await run_hooks([failing], "confirm-promotion", PAYLOAD)
    assert not result.ok and "exit 4" in result.detail and "nope" in result.detail
    slow = WebhookConfig(name="slow", type="rollout", command=["sleep", "30"], timeout_seconds=0.3)
    [result] = await run_hooks([slow], "rollout", PAYLOAD)
    assert not result.ok and "timed out" in result.detail and result.seconds < 5
    missing = WebhookConfig(name="missing", type="rollout", command=["/nonexistent/hook"])
    [result] = await run_hooks([missing], "rollout", PAYLOAD)
    assert not result.ok
