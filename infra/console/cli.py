"""`streamgate console`: the live web console of a stack, on loopback."""

from __future__ import annotations

import socket
from typing import Annotated

import typer

from infra.clikit import OutputsOpt, StackOpt, command_group, err_console, reported

app = command_group("console", "A live web console of a stack: regions, weights, rollouts, alerts.")
LOOPBACK = "127.0.0.1"


@app.command()
def console(
    stack: StackOpt,
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="Port on 127.0.0.1 (0: any free one).")
    ] = 8710,
    allow_actions: Annotated[
        bool,
        typer.Option(
            "--allow-actions",
            help="Let operators pause, resume, promote or abort rollouts from the page, after an MFA "
            "step-up (admin token + TOTP code, checked by the stack's gateway). Read-only without it.",
        ),
    ] = False,
    refresh: Annotated[
        float, typer.Option("--refresh", min=0.5, max=60, help="Seconds between live updates.")
    ] = 2.0,
    outputs: OutputsOpt = None,
) -> None:
    """Serve a live page of STACK on 127.0.0.1: regions and their health, traffic weights, each region's
    rollout with its steps and last analysis, the last failover, firing alerts (Alertmanager) and the
    audit trail, refreshed live (server-sent events). Stop it with Ctrl-C.

    Example: streamgate console --stack prod --outputs outputs.json --port 8710"""
    import uvicorn

    from infra.automation.targets import stack_target
    from infra.console.actions import Actions
    from infra.console.app import create_app
    from infra.console.snapshot import Snapshotter

    with reported():
        target = stack_target(stack, outputs)
        actions = Actions(target, target.step_up()) if allow_actions else None
        web = create_app(Snapshotter(target), actions=actions, refresh=refresh)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, port))
    except OSError as exc:
        with reported():
            from infra.errors import ConfigError

            raise ConfigError(
                f"--port {port}: cannot listen on {LOOPBACK}:{port} ({exc}); pick another"
            ) from None
    mode = "actions allowed after MFA step-up" if allow_actions else "read-only"
    err_console.print(
        f"console of {stack}: http://{LOOPBACK}:{sock.getsockname()[1]}/ ({mode})", highlight=False
    )
    server = uvicorn.Server(uvicorn.Config(web, log_level="warning", lifespan="off"))
    server.run(sockets=[sock])
