"""`streamgate profile`: the gateways' continuous CPU profiles — list what is stored, draw a flame graph of a
selection, and diff two selections (a canary against stable, one color against the other).

Profiles are selected by region, version and color (the agent's tags) and a time window; every profile of a
selection is merged (a longer look at the same code). Local stacks read the platform's profile store;
cloud stacks keep theirs in each cluster's Pyroscope (Grafana → Explore → Profiles, or its API)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from infra.clikit import JsonOpt, StackOpt, command_group, console, emit_json, fail
from infra.config import load_stack
from infra.errors import ConfigError, StreamgateError
from infra.profiles import flamegraph
from infra.profiles.pprof import Profile
from infra.profiles.store import TAGS, ProfileStore, Selection

app = command_group("profile", "Continuous CPU profiles of the gateways: list, flame graphs, diffs.")

RegionOpt = Annotated[str | None, typer.Option("--region", help="Only this region.")]
VersionOpt = Annotated[str | None, typer.Option("--version", help="Only this gateway version.")]
ColorOpt = Annotated[str | None, typer.Option("--color", help="Only this color (blue or green).")]
SinceOpt = Annotated[
    str, typer.Option("--since", help="How far back: 90s, 15m, 2h, 1d (profiles stored since then).")
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write the flame graph: FILE.svg or FILE.html.")
]
TopOpt = Annotated[int, typer.Option("--top", min=1, max=200, help="Functions in the table.")]
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def since_seconds(text: str) -> float:
    """`15m` → 900.0; a clear error for anything else."""
    value, unit = text[:-1], text[-1:]
    if unit not in _UNITS or not value.replace(".", "", 1).isdigit() or float(value) <= 0:
        raise ConfigError(f"--since {text!r}: give a positive number with a unit s, m, h or d (e.g. 15m)")
    return float(value) * _UNITS[unit]


def parse_selection(text: str, option: str, region: str | None, since: float) -> Selection:
    """`version=1.5.0,color=green` → a Selection (the region and window shared by both sides)."""
    tags: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key not in TAGS or not value:
            raise ConfigError(
                f"{option} {text!r}: expected TAG=VALUE[,TAG=VALUE] with TAG one of {', '.join(TAGS)}"
            )
        tags[key] = value
    if not tags:
        raise ConfigError(
            f"{option}: name what to compare, e.g. {option} version=1.5.0 or {option} color=green"
        )
    return Selection(
        region=tags.get("region", region), version=tags.get("version"), color=tags.get("color"), since=since
    )


def store_for(stack: str) -> ProfileStore:
    """The stack's profile store; only the local platform keeps one (clusters run Pyroscope)."""
    cfg = load_stack(stack)
    if cfg.target != "local":
        raise ConfigError(
            f"stack {stack}: profiles of cloud stacks are in each cluster's Pyroscope (Grafana → Explore → "
            "Profiles, data source Pyroscope, service streamgate-gateway); `streamgate profile` reads the "
            "local platform's store"
        )
    from infra.local.aws import s3_client
    from infra.local.platform import LocalPlatform

    platform = LocalPlatform(cfg)
    return ProfileStore(s3_client(platform.layout.moto_url), platform.resources.profile_bucket)


def _write(
    out: Path, graph: str, title: str, rows: Sequence[tuple[str, ...]], header: tuple[str, ...]
) -> None:
    if out.suffix not in (".svg", ".html"):
        raise ConfigError(f"--out {out}: name an .svg or .html file")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(graph if out.suffix == ".svg" else flamegraph.html(graph, title, rows, header))


def _pct(share: float) -> str:
    return f"{share * 100:.2f}%"


@app.command("list")
def list_cmd(
    stack: StackOpt = "local",
    region: RegionOpt = None,
    version: VersionOpt = None,
    color: ColorOpt = None,
    since: SinceOpt = "1h",
    as_json: JsonOpt = False,
) -> None:
    """Stored profiles per region, version and color: how many, and the time they span."""
    try:
        window = since_seconds(since)
        selection = Selection(region=region, version=version, color=color, since=time.time() - window)
        found = store_for(stack).list(selection)
    except StreamgateError as exc:
        fail(exc)
    groups: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for p in found:
        groups[(p.region, p.version, p.color)].append(p)
    rows = [
        {
            "region": r,
            "version": v,
            "color": c,
            "profiles": len(ps),
            "first": round(ps[0].at, 3),
            "last": round(ps[-1].at, 3),
            "bytes": sum(p.size for p in ps),
        }
        for (r, v, c), ps in sorted(groups.items())
    ]
    if as_json:
        emit_json(rows)
        return
    table = Table(
        "region", "version", "color", "profiles", "span", "last", title=f"profiles of the last {since}"
    )
    now = time.time()
    for row in rows:
        span = f"{row['last'] - row['first']:.0f}s"
        table.add_row(
            row["region"],
            row["version"],
            row["color"],
            str(row["profiles"]),
            span,
            f"{now - row['last']:.0f}s ago",
        )
    console.print(table)


@app.command()
def show(
    stack: StackOpt = "local",
    region: RegionOpt = None,
    version: VersionOpt = None,
    color: ColorOpt = None,
    since: SinceOpt = "15m",
    out: OutOpt = None,
    top: TopOpt = 15,
    as_json: JsonOpt = False,
) -> None:
    """A flame graph of the selected profiles (merged) and their hottest functions."""
    try:
        selection = Selection(
            region=region, version=version, color=color, since=time.time() - since_seconds(since)
        )
        profile, used = store_for(stack).load(selection)
        shares = sorted(flamegraph.functions(profile).values(), key=lambda f: (-f.self_share, f.name))[:top]
        title = f"CPU of streamgate-gateway ({selection.describe()}), {len(used)} profiles, {_seconds(profile):.1f} CPU-s"
        rows = [(f.name, _pct(f.self_share), _pct(f.total_share)) for f in shares]
        header = ("function", "self", "total")
        if out is not None:
            _write(out, flamegraph.svg(flamegraph.tree(profile), title), title, rows, header)
    except StreamgateError as exc:
        fail(exc)
    if as_json:
        emit_json(
            {
                "selection": selection.describe(),
                "profiles": len(used),
                "cpu_seconds": round(_seconds(profile), 3),
                "functions": [
                    {
                        "function": f.name,
                        "self_share": round(f.self_share, 5),
                        "total_share": round(f.total_share, 5),
                    }
                    for f in shares
                ],
                "out": str(out) if out else None,
            }
        )
        return
    table = Table(*header, title=title)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if out is not None:
        console.print(f"flame graph: {out}")


def _seconds(profile: Profile) -> float:
    return profile.total / 1e9 if profile.unit == "nanoseconds" else float(profile.total)


def diff_profiles(
    store: ProfileStore, base: Selection, target: Selection
) -> tuple[Profile, Profile, list[flamegraph.FunctionChange], int, int]:
    """Both sides merged and every function's change of share (largest growth first)."""
    base_profile, base_used = store.load(base)
    target_profile, target_used = store.load(target)
    return (
        base_profile,
        target_profile,
        flamegraph.changes(base_profile, target_profile),
        len(base_used),
        len(target_used),
    )


@app.command()
def diff(
    base: Annotated[
        str, typer.Option("--base", help="What to compare against: TAG=VALUE[,...], e.g. color=blue.")
    ],
    target: Annotated[
        str, typer.Option("--target", help="What changed: TAG=VALUE[,...], e.g. version=1.5.0.")
    ],
    stack: StackOpt = "local",
    region: RegionOpt = None,
    since: SinceOpt = "15m",
    out: OutOpt = None,
    top: TopOpt = 15,
    as_json: JsonOpt = False,
) -> None:
    """Where TARGET spends its CPU differently from BASE: the functions whose share grew most, and a
    differential flame graph (red: more in TARGET, blue: less)."""
    try:
        window = time.time() - since_seconds(since)
        b = parse_selection(base, "--base", region, window)
        t = parse_selection(target, "--target", region, window)
        base_profile, target_profile, changed, nb, nt = diff_profiles(store_for(stack), b, t)
        shown = changed[:top]
        title = f"CPU of {t.describe()} ({nt} profiles) against {b.describe()} ({nb} profiles)"
        header = ("function", "self before", "self after", "Δ self", "Δ total")
        rows = [
            (
                c.name,
                _pct(c.base_self),
                _pct(c.target_self),
                f"{c.delta_self * 100:+.2f}",
                f"{c.delta_total * 100:+.2f}",
            )
            for c in shown
        ]
        if out is not None:
            graph = flamegraph.svg(flamegraph.tree(target_profile, base_profile), title, diff=True)
            _write(out, graph, title, rows, header)
    except StreamgateError as exc:
        fail(exc)
    if as_json:
        emit_json(
            {
                "base": b.describe(),
                "target": t.describe(),
                "base_profiles": nb,
                "target_profiles": nt,
                "changes": [c.to_json() for c in shown],
                "out": str(out) if out else None,
            }
        )
        return
    table = Table(*header, title=title)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if out is not None:
        console.print(f"differential flame graph: {out}")
