"""`streamgate local ...`: the local platform's commands (registered as a typer sub-app by infra.cli).

Exit codes: 0 ok, 1 failed, 2 bad input or preflight (missing package, busy port), 3 aborted.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.table import Table

from infra.clikit import JsonOpt, StackOpt, command_group, console, emit_json, err_console, report_error
from infra.errors import StreamgateError

# The platform is imported when a command runs: completing `streamgate local <TAB>` imports this module.
if TYPE_CHECKING:
    from infra.local.platform import LocalPlatform, SmokeResult, UpResult

app = command_group(
    "local",
    "The local platform: the whole system on this machine from real parts (nginx, Redis, Prometheus, "
    "Alertmanager, Pushgateway, moto, the gateways) under supervisord.",
)

BasePortOpt = Annotated[
    int | None,
    typer.Option(
        "--base-port", min=1024, max=65000, help="First port (default: the stack's local.basePort)."
    ),
]
StateDirOpt = Annotated[
    Path | None,
    typer.Option("--state-dir", help="Where configs, data and logs live (default: .streamgate/<stack>/)."),
]

P = ParamSpec("P")
R = TypeVar("R")


def handled(fn: Callable[P, R]) -> Callable[P, R]:
    """One clear line and the right exit code for our errors, also when run without infra.cli's main()."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except StreamgateError as exc:
            report_error(exc)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("interrupted: `streamgate local down` stops what was started")
            raise typer.Exit(3) from None

    return wrapper


def platform(stack: str, base_port: int | None, state_dir: Path | None) -> LocalPlatform:
    from infra.config import load_stack
    from infra.local.platform import LocalPlatform

    return LocalPlatform(load_stack(stack), base_port=base_port, state_dir=state_dir)


def endpoints_table(endpoints: dict[str, Any]) -> Table:
    table = Table("endpoint", "address", title="StreamGate local platform")
    table.add_row("edge (CDN analog, router)", endpoints["edge"])
    table.add_row("router weights", endpoints["weights"])
    for name, region in endpoints["regions"].items():
        table.add_row(f"{name} router", region["router"])
        for color, url in region["gateways"].items():
            table.add_row(f"{name} gateway {color}", url)
        table.add_row(f"{name} Redis endpoint (→ primary)", region["redis_endpoint"])
        table.add_row(f"{name} Redis node", region["redis_node"])
        if "postgres" in region:
            table.add_row(f"{name} PostgreSQL (catalog)", region["postgres"])
    table.add_row("Prometheus", endpoints["prometheus"])
    table.add_row("Alertmanager", endpoints["alertmanager"])
    table.add_row("Pushgateway", endpoints["pushgateway"])
    table.add_row("S3 + KMS (moto, in memory)", endpoints["s3_kms"])
    table.add_row("profile receiver (Pyroscope push API)", endpoints["profiles"])
    table.add_row("state, logs, data", endpoints["state_dir"])
    return table


@app.command()
@handled
def up(
    stack: StackOpt = "local",
    base_port: BasePortOpt = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every part to be healthy.")] = 90.0,
) -> None:
    """Bring the local platform up (idempotent): preflight, render configs, start every process under
    supervisord, wait for health, create buckets and the KMS key in moto, seed sample content.

    Example: streamgate local up --stack local --base-port 19000"""
    from rich.live import Live

    from infra.local.reporters import LiveReporter, PlainReporter

    plat = platform(stack, base_port, state_dir)
    result: UpResult
    if as_json:
        result = plat.up(timeout=timeout)
    elif not err_console.is_terminal:
        result = plat.up(PlainReporter(), timeout=timeout)
    else:
        with Live(console=err_console, transient=True, refresh_per_second=8) as live:
            result = plat.up(LiveReporter(live), timeout=timeout)
    if as_json:
        emit_json(
            {
                "changed": result.changed,
                "changes": result.changes,
                "seconds": round(result.seconds, 2),
                "endpoints": result.endpoints,
            }
        )
        return
    for change in result.changes:
        err_console.print(f"  • {change}", highlight=False)
    if result.changed:
        console.print(f"[green]up[/green]: healthy in {result.seconds:.1f}s")
    else:
        console.print(
            f"[green]already up[/green]: everything healthy, nothing changed ({result.seconds:.1f}s)"
        )
    console.print(endpoints_table(result.endpoints))
    console.print(
        "moto keeps S3 and KMS in memory: if it restarts, `streamgate local up` recreates buckets and key."
    )


@app.command()
@handled
def status(
    stack: StackOpt = "local",
    base_port: BasePortOpt = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Health of every part: its process under supervisord and the probes of what it serves.

    Example: streamgate local status --stack local --json"""
    plat = platform(stack, base_port, state_dir)
    parts = plat.status()
    extras = plat.extras()
    healthy = bool(parts) and all(p.healthy for p in parts)
    if as_json:
        emit_json(
            {
                "running": plat.running(),
                "healthy": healthy,
                "parts": [p.to_json() for p in parts],
                "endpoints": plat.endpoints(),
                **extras,
            }
        )
    else:
        table = Table("part", "process", "pid", "uptime", "health", title=f"local platform ({stack})")
        for p in parts:
            failing = "; ".join(f"{c.what}: {c.detail}" for c in p.checks if not c.healthy)
            mark = "[green]healthy[/green]" if p.healthy else f"[red]unhealthy[/red] {failing}"
            table.add_row(p.name, p.state, str(p.pid or "-"), f"{p.uptime_seconds:.0f}s", mark)
        console.print(table)
        router = extras.get("router")
        if router:
            console.print(
                f"router: regions {router['regions']} colors {router['colors']} "
                f"redis primary {router['redis_primary']}",
                highlight=False,
            )
        moto = extras.get("moto")
        if moto:
            gaps = ", ".join(moto["missing"]) or "none"
            console.print(f"moto (state in memory only): missing {gaps}", highlight=False)
    if not healthy:
        raise typer.Exit(1)


def _follow(path: Path) -> Iterator[str]:
    with path.open("rb") as f:
        f.seek(0, 2)
        while True:
            line = f.readline()
            if line:
                yield line.decode(errors="replace").rstrip("\n")
            else:
                time.sleep(0.2)


@app.command()
@handled
def logs(
    part: Annotated[
        str,
        typer.Argument(
            help="A program (nginx, prometheus, gateway-local-a-blue, ...), supervisord or nginx-access."
        ),
    ],
    lines: Annotated[int, typer.Option("-n", "--lines", min=0, help="How many lines from the end.")] = 50,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
    stack: StackOpt = "local",
    state_dir: StateDirOpt = None,
) -> None:
    """Print the log of one part.

    Example: streamgate local logs gateway-local-a-blue --follow"""
    from infra.local.layout import tail_lines

    path = platform(stack, None, state_dir).log_file(part)
    if not path.exists():
        err_console.print(f"{path} does not exist yet (has `streamgate local up` run?)")
        raise typer.Exit(1)
    for line in tail_lines(path, lines):
        console.out(line, highlight=False)
    if follow:
        try:
            for line in _follow(path):
                console.out(line, highlight=False)
        except KeyboardInterrupt:
            return  # Ctrl-C is how one stops following


@app.command()
@handled
def down(
    purge: Annotated[bool, typer.Option("--purge", help="Also delete data, configs and logs.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before --purge deletes data.")] = False,
    stack: StackOpt = "local",
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop every process cleanly (data kept unless --purge); nothing is left running.

    Example: streamgate local down --stack local"""
    plat = platform(stack, None, state_dir)
    if purge and not yes and not typer.confirm(f"delete every file under {plat.paths.root}?"):
        raise typer.Exit(3)
    stopped = plat.down(purge=purge)
    if as_json:
        emit_json({"stopped": stopped, "purged": purge, "state_dir": str(plat.paths.root)})
        return
    if stopped:
        console.print(f"stopped {len(stopped)} processes: {', '.join(stopped)}")
    else:
        console.print("nothing was running")
    console.print(f"data {'deleted' if purge else 'kept'} in {plat.paths.root}")


@app.command()
@handled
def smoke(
    stack: StackOpt = "local",
    state_dir: StateDirOpt = None,
    segment: Annotated[int, typer.Option(min=0, help="Which segment of the top rendition to fetch.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Fetch a sample segment through the edge twice (after purging it there): bytes, status, the edge's
    cache status (MISS, then HIT) and the gateway tier that served it. Then play the sample's master
    playlist through the edge with ffmpeg (its default options), every rendition, and compare the frames
    decoded with the source's.

    Example: streamgate local smoke --stack local"""
    result: SmokeResult = platform(stack, None, state_dir).smoke(segment)
    played = result.played
    if as_json:
        emit_json(
            {
                "ok": result.ok,
                "url": result.url,
                "expected_sha256": result.expected_sha256,
                "fetches": [f.__dict__ for f in result.fetches],
                "catalog": result.catalog.__dict__ if result.catalog else None,
                "playback": {
                    "url": played.source,
                    "frames_decoded": played.total,
                    "video_frames": played.video_frames,
                    "matches_source": result.matches_source,
                    "seconds": round(played.seconds, 2),
                },
            }
        )
    else:
        table = Table(
            "fetch",
            "status",
            "bytes",
            "edge (X-Cache-Status)",
            "gateway tier (X-StreamGate-Cache)",
            "ms",
            "content ok",
            title=f"GET {result.url}",
        )
        for i, f in enumerate(result.fetches, 1):
            table.add_row(
                str(i),
                str(f.status),
                str(f.size),
                f.edge_cache,
                f.gateway_tier,
                f"{f.seconds * 1000:.1f}",
                "yes" if f.sha256 == result.expected_sha256 else "NO",
            )
        console.print(table)
        renditions = ", ".join(f"{size}: {n}" for size, n in played.video_frames.items())
        console.print(
            f"played {played.source} with ffmpeg in {played.seconds:.1f}s: {played.total} frames decoded "
            f"(video per rendition {renditions}); "
            + (
                "identical to the source" if result.matches_source else "[red]DIFFERENT from the source[/red]"
            ),
            highlight=False,
        )
        if result.catalog is not None:
            console.print(result.catalog.detail, highlight=False)
        console.print("[green]smoke ok[/green]" if result.ok else "[red]smoke failed[/red]")
    if not result.ok:
        raise typer.Exit(1)
