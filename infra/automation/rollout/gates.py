"""Webhooks and gates, as Flagger runs them: an HTTP POST of the rollout as JSON (2xx = pass) or a local
command (the same JSON on stdin and STREAMGATE_ROLLOUT_* in its environment; exit 0 = pass)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra import http
from infra.config import WebhookConfig, WebhookType


@dataclass(frozen=True)
class GateResult:
    name: str
    type: str
    ok: bool
    detail: str
    seconds: float


async def _http(hook: WebhookConfig, payload: Mapping[str, Any]) -> tuple[bool, str]:
    assert hook.url is not None
    answer = await asyncio.to_thread(
        http.send, "POST", hook.url, json_body=dict(payload), timeout=hook.timeout_seconds
    )
    if not answer.status:
        return False, answer.error
    body = answer.body[:200].decode(errors="replace")
    return answer.ok, f"HTTP {answer.status} {body}".strip()


async def _command(hook: WebhookConfig, payload: Mapping[str, Any]) -> tuple[bool, str]:
    assert hook.command is not None
    env = os.environ | {
        f"STREAMGATE_ROLLOUT_{k.upper()}": str(v) for k, v in payload.items() if not isinstance(v, dict)
    }
    try:
        proc = await asyncio.create_subprocess_exec(
            *hook.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
    except OSError as exc:
        return False, f"{hook.command[0]}: {exc}"
    try:
        out, _ = await asyncio.wait_for(proc.communicate(json.dumps(payload).encode()), hook.timeout_seconds)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()  # the process we started, by its handle
        await proc.wait()
        return False, f"timed out after {hook.timeout_seconds:g}s"
    tail = out.decode(errors="replace").strip()[-200:]
    return proc.returncode == 0, f"exit {proc.returncode} {tail}".strip()


async def run_hook(hook: WebhookConfig, payload: Mapping[str, Any]) -> GateResult:
    started = time.monotonic()
    body = {**payload, "webhook": hook.name, "type": hook.type, "metadata": dict(hook.metadata)}
    ok, detail = await (_http(hook, body) if hook.url else _command(hook, body))
    return GateResult(hook.name, hook.type, ok, detail, time.monotonic() - started)


async def run_hooks(
    hooks: Sequence[WebhookConfig], kind: WebhookType, payload: Mapping[str, Any]
) -> list[GateResult]:
    """Every hook of one type, concurrently."""
    return list(await asyncio.gather(*(run_hook(h, payload) for h in hooks if h.type == kind)))
