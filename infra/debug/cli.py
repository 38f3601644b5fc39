"""`streamgate debug`: arm, list and clear the gateways' debug probes, read their snapshots, and get a debug
token (Server-Timing). Everything goes through the gateways' admin API with an MFA step-up; an arming
reaches every instance of the stack (runtime/observability/debugging.py).

On the local platform the CLI steps up as the local admin (infra/local/gateway.py). For a cloud stack give
the API's URL and a step-up token (`--url`, `--token` or STREAMGATE_STEP_UP_TOKEN)."""

from __future__ import annotations

import json
import urllib.parse
from typing import Annotated, Any

import typer
from rich.table import Table

from infra.clikit import JsonOpt, StackOpt, command_group, console, emit_json, fail
from infra.config import load_stack
from infra.errors import ConfigError, StreamgateError
from runtime.observability.conditions import ConditionError, compile_condition
from runtime.observability.probes import POINTS

app = command_group("debug", "Debug probes on the gateways' hot paths: arm, list, clear, snapshots.")
probe_app = command_group("probe", "Debug probes: set (arm), list, clear, snapshots.")
app.add_typer(probe_app, name="probe")

UrlOpt = Annotated[
    str | None, typer.Option("--url", help="The gateways' API (cloud stacks), e.g. https://api.example.com.")
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", envvar="STREAMGATE_STEP_UP_TOKEN", help="A step-up token (cloud stacks)."),
]


class DebugApiError(StreamgateError):
    """The admin API refused or failed a call."""


class _Api:
    def __init__(self, stack: str, url: str | None, token: str | None) -> None:
        cfg = load_stack(stack)
        if cfg.target == "local" and url is None:
            from infra.local.platform import LocalPlatform

            platform = LocalPlatform(cfg)
            self.base = platform.layout.edge_url
            self.token = token or platform.admin.step_up(self.base)
        elif url is None or token is None:
            raise ConfigError(
                f"stack {stack}: give the gateways' API with --url and a step-up token with --token (or "
                "STREAMGATE_STEP_UP_TOKEN): POST /v1/auth/step-up with your admin token and a TOTP code"
            )
        else:
            self.base, self.token = url.rstrip("/"), token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        from infra.local.gateway import request

        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        status, answer = request(method, f"{self.base}{path}", data, headers)
        if status != 200:
            try:
                reason = json.loads(answer)["error"]
            except (ValueError, KeyError, TypeError):
                reason = answer[:200].decode("utf-8", "replace")
            error = ConfigError if status in (400, 404, 422) else DebugApiError
            raise error(f"{method} {path}: HTTP {status}: {reason}")
        return json.loads(answer)


def _probe(name: str) -> str:
    if name not in POINTS:
        raise ConfigError(f"no probe named {name!r}; probes: {', '.join(POINTS)}")
    return name


@probe_app.command("set")
def set_probe(
    name: Annotated[str, typer.Argument(help=f"The probe: {', '.join(POINTS)}.")],
    when: Annotated[str, typer.Option("--when", help="Condition over the probe's variables.")] = "True",
    hits: Annotated[int, typer.Option("--hits", min=1, max=1000, help="Snapshots before it disarms.")] = 10,
    ttl: Annotated[float, typer.Option("--ttl", min=1, max=3600, help="Seconds until it disarms.")] = 300,
    rate: Annotated[int, typer.Option("--rate", min=1, max=50, help="Snapshots per second at most.")] = 1,
    stack: StackOpt = "local",
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Arm a probe on every gateway of the stack: a hit that satisfies --when captures a snapshot."""
    try:
        point = POINTS[_probe(name)]
        try:
            compile_condition(when, point.variables)  # refused here already, before any call
        except ConditionError as exc:
            raise ConfigError(f"--when {when!r}: {exc}") from exc
        body = {"condition": when, "max_hits": hits, "ttl_seconds": ttl, "max_per_second": rate}
        answer = _Api(stack, url, token).call("PUT", f"/v1/admin/debug/probes/{name}", body)
    except StreamgateError as exc:
        fail(exc)
    if as_json:
        emit_json(answer)
        return
    armed = answer["armed"]
    console.print(
        f"armed {name} ({armed['id']}): when {armed['condition']}, {armed['max_hits']} hits, "
        f"{armed['max_per_second']}/s, for {ttl:g}s",
        highlight=False,
    )


@probe_app.command("list")
def list_probes(
    stack: StackOpt = "local", url: UrlOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Every probe, its variables, and its arming (hits so far) if armed."""
    try:
        probes = _Api(stack, url, token).call("GET", "/v1/admin/debug/probes")["probes"]
    except StreamgateError as exc:
        fail(exc)
    if as_json:
        emit_json(probes)
        return
    table = Table("probe", "variables", "armed", "hits", title="debug probes")
    for p in probes:
        armed = p["armed"]
        state = f"when {armed['condition']} ({armed['max_per_second']}/s)" if armed else "-"
        hits = f"{armed['hits']}/{armed['max_hits']}" if armed else "-"
        table.add_row(p["name"], ", ".join(p["variables"]), state, hits)
    console.print(table)


@probe_app.command("clear")
def clear(
    name: Annotated[str | None, typer.Argument(help="The probe (default: every probe).")] = None,
    stack: StackOpt = "local",
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Disarm a probe (or all of them) on every gateway."""
    try:
        path = "/v1/admin/debug/probes" + (f"/{_probe(name)}" if name else "")
        answer = _Api(stack, url, token).call("DELETE", path)
    except StreamgateError as exc:
        fail(exc)
    if as_json:
        emit_json(answer)
        return
    console.print(f"cleared: {', '.join(answer['cleared']) or 'nothing was armed'}")


@probe_app.command("snapshots")
def snapshots(
    name: Annotated[str, typer.Argument(help="The probe.")],
    stack: StackOpt = "local",
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The snapshots a probe captured (newest first): values, request and trace ids, redacted locals."""
    try:
        kept = _Api(stack, url, token).call("GET", f"/v1/admin/debug/probes/{_probe(name)}/snapshots")
    except StreamgateError as exc:
        fail(exc)
    if as_json:
        emit_json(kept["snapshots"])
        return
    for snap in kept["snapshots"]:
        console.print(
            f"[bold]{snap['probe']}[/bold] {snap['method']} {snap['path']} request {snap['request_id']} "
            f"trace {snap['trace_id']}",
            highlight=False,
        )
        console.print(f"  values: {json.dumps(snap['values'])}", highlight=False, soft_wrap=True)
        console.print(f"  at: {snap['stack'][-1] if snap['stack'] else '?'}", highlight=False)
    if not kept["snapshots"]:
        console.print(f"no snapshots of {name} (kept for a bounded time)")


@app.command("token")
def debug_token(
    ttl: Annotated[float, typer.Option("--ttl", min=1, max=86400, help="Seconds the token is valid.")] = 600,
    stack: StackOpt = "local",
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A debug token: send it as `X-StreamGate-Debug` and the gateway answers with Server-Timing."""
    try:
        query = urllib.parse.urlencode({"ttl_seconds": ttl})
        answer = _Api(stack, url, token).call("POST", f"/v1/admin/debug/token?{query}")
    except StreamgateError as exc:
        fail(exc)
    if as_json:
        emit_json(answer)
        return
    console.print(answer["token"], highlight=False, soft_wrap=True)
