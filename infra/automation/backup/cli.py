"""`streamgate backup …`: create, list, verify, restore and prune encrypted backups, per region.

Exit codes: 0 ok, 1 failed (or verify found a problem), 2 bad input or config, 3 declined.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from infra.automation.adapters.backup_source import RegionBackup
from infra.automation.backup.backups import Backups, push_last_success
from infra.automation.backup.errors import BackupError
from infra.automation.errors import InvalidInputError
from infra.automation.targets import Target, for_stack
from infra.clikit import (
    DryRunOpt,
    JsonOpt,
    OutputsOpt,
    StackOpt,
    command_group,
    console,
    emit_json,
    err_console,
    fail,
    reported,
)
from infra.config import load_stack
from runtime.storage import ObjectStore

app = command_group(
    "backup",
    "Encrypted backups of Redis snapshots and content buckets: create, list, verify, restore, prune.",
)

RegionOpt = Annotated[
    list[str] | None, typer.Option("--region", "-r", help="Region(s) to act on (default: every region).")
]


def _targets(
    stack: str, outputs: str | None, regions: list[str] | None, redis: bool = True
) -> tuple[Target, list[RegionBackup]]:
    from infra.automation.backup import wiring as backup_wiring

    target = for_stack(load_stack(stack), outputs)
    return target, backup_wiring.targets(target, regions, redis=redis)


@contextmanager
def _progress(quiet: bool) -> Iterator[Any]:
    """A rich progress bar on stderr (nothing with --json): one task per (region, phase)."""
    if quiet:
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        yield bar


def _backups(target: RegionBackup, bar: Any) -> Backups:
    if bar is None:
        return Backups(target)
    tasks: dict[str, Any] = {}

    def report(what: str, done: int, total: int) -> None:
        name = f"{target.region}: {what}"
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=max(total, 1))
        bar.update(tasks[name], completed=done, total=max(total, 1))

    return Backups(target, progress=report)


def _run(coro: Any) -> Any:
    with reported():
        return asyncio.run(coro)


@app.command()
def create(
    stack: StackOpt,
    region: RegionOpt = None,
    no_redis: Annotated[bool, typer.Option("--no-redis", help="Back up the content bucket only.")] = False,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
) -> None:
    """Back up each region: its Redis snapshot (BGSAVE) and every object of its content bucket, encrypted,
    with a manifest; then push the backup's time to the Pushgateway (backup-age alert)."""
    with reported():
        stack_target, targets = _targets(stack, outputs, region, redis=not no_redis)
        cfg = stack_target.cfg

    async def go(bar: Any) -> list[dict[str, Any]]:
        rows = []
        for target in targets:
            backups = _backups(target, bar)
            if dry_run:
                keys, size = await backups.plan()
                rows.append({"region": target.region, "dry_run": True, "objects": len(keys), "bytes": size})
                continue
            manifest = await backups.create()
            gateway = stack_target.pushgateway(target.region, cfg.backup.pushgateway_url)
            pushed = push_last_success(gateway, cfg.stack, target.region, manifest.finished_at)
            rows.append(
                {
                    "region": target.region,
                    "backup_id": manifest.backup_id,
                    "objects": len(manifest.entries),
                    "bytes": manifest.bytes,
                    "seconds": round(manifest.finished_at - manifest.started_at, 3),
                    "bucket": target.backup.bucket,
                    "pushed": pushed,
                    "notes": manifest.notes,
                }
            )
        return rows

    with _progress(as_json) as bar:
        rows = _run(go(bar))
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        if row.get("dry_run"):
            console.print(f"{row['region']}: would back up {row['objects']} objects ({row['bytes']} bytes)")
            continue
        console.print(
            f"[green]backed up[/green] {row['region']} → s3://{row['bucket']}/backups/{row['backup_id']}: "
            f"{row['objects']} objects, {row['bytes']} bytes in {row['seconds']} s"
            + ("" if row["pushed"] else " [yellow](backup time not pushed: no Pushgateway answered)[/yellow]")
        )
        for note in row["notes"]:
            console.print(f"  note: {note}")


@app.command("list")
def list_(
    stack: StackOpt, region: RegionOpt = None, as_json: JsonOpt = False, outputs: OutputsOpt = None
) -> None:
    """Every backup per region, newest first (incomplete ones included)."""
    with reported():
        _, targets = _targets(stack, outputs, region)

    async def go() -> list[Any]:
        return [b for t in targets for b in await Backups(t).list()]

    infos = _run(go())
    if as_json:
        emit_json([b.__dict__ for b in infos])
        return
    table = Table("region", "backup", "complete", "objects", "bytes", "finished")
    for b in infos:
        table.add_row(
            b.region,
            b.backup_id,
            "yes" if b.complete else f"[yellow]no[/yellow] {b.problem or ''}",
            str(b.objects),
            str(b.bytes),
            _time(b.finished_at),
        )
    console.print(table)


def _time(ts: float | None) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


@app.command()
def verify(
    stack: StackOpt,
    backup_id: Annotated[
        str | None, typer.Argument(help="Backup id (default: the newest complete one).")
    ] = None,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
) -> None:
    """Restore a backup into scratch space and compare every object with its manifest checksum; load its
    Redis snapshot into a scratch redis-server. Exit 1 naming every corrupted, missing or extra object."""
    with reported():
        _, targets = _targets(stack, outputs, region)

    async def go(bar: Any) -> list[Any]:
        results = []
        for target in targets:
            backups = _backups(target, bar)
            chosen = backup_id
            if chosen is None:
                newest = await backups.newest()
                if newest is None:
                    raise BackupError(f"{target.region}: no complete backup to verify")
                chosen = newest.backup_id
            results.append(await backups.verify(chosen))
        return results

    with _progress(as_json) as bar:
        results = _run(go(bar))
    if as_json:
        emit_json([r.to_dict() for r in results])
    else:
        for r in results:
            head = "[green]ok[/green]" if r.ok else f"[red]{len(r.problems)} problem(s)[/red]"
            redis = f", Redis snapshot loads with {r.redis_keys} keys" if r.redis_keys is not None else ""
            console.print(
                f"{r.region} {r.backup_id}: {head}; {r.checked} objects ({r.bytes} bytes) intact{redis}"
            )
            for p in r.problems:
                console.print(f"  [red]{p.kind}[/red] {p.key}: {p.detail}")
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@app.command()
def restore(
    stack: StackOpt,
    backup_id: Annotated[str, typer.Argument(help="The backup to restore.")],
    region: Annotated[str, typer.Option("--region", "-r", help="The region whose backup it is.")],
    target_bucket: Annotated[
        str | None,
        typer.Option("--target-bucket", help="Restore objects here (default: the region's content bucket)."),
    ] = None,
    no_content: Annotated[bool, typer.Option("--no-content", help="Do not restore objects.")] = False,
    redis_url: Annotated[
        str | None,
        typer.Option("--redis-url", help="Also restore the Redis snapshot into this Redis (keys replaced)."),
    ] = None,
    dry_run: DryRunOpt = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
) -> None:
    """Restore a backup: objects (checked against the manifest before writing) into a bucket, and with
    --redis-url the Redis snapshot into a Redis. Objects that fail their check are named, never written."""
    with reported():
        stack_target, [target] = _targets(stack, outputs, [region])
    to: ObjectStore | None = None
    if not no_content:
        to = stack_target.bucket(target_bucket, region) if target_bucket else target.content
    if to is None and redis_url is None:
        fail(InvalidInputError("nothing to restore: drop --no-content or give --redis-url"))
    if not dry_run and not yes:
        what = " and ".join(
            x
            for x in (
                f"objects into s3://{to.bucket}" if to else "",
                f"keys into {redis_url}" if redis_url else "",
            )
            if x
        )
        try:
            ok = typer.confirm(f"restore {backup_id} ({region}): write {what}?", default=False, err=True)
        except typer.Abort:
            ok = False
        if not ok:
            err_console.print("restore declined: nothing was written")
            raise typer.Exit(3)

    with _progress(as_json) as bar:
        result = _run(_backups(target, bar).restore(backup_id, to=to, redis_url=redis_url, dry_run=dry_run))
    if as_json:
        emit_json({**result.__dict__, "problems": [p.__dict__ for p in result.problems], "ok": result.ok})
    else:
        verb = "would restore" if dry_run else "restored"
        console.print(
            f"{verb} {result.objects} objects ({result.bytes} bytes)"
            + (f" into s3://{result.target_bucket}" if result.target_bucket else "")
            + (f"; {result.redis_keys} Redis keys into {redis_url}" if result.redis_keys is not None else "")
        )
        for p in result.problems:
            console.print(f"  [red]{p.kind}[/red] {p.key}: {p.detail}")
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def prune(
    stack: StackOpt,
    region: RegionOpt = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
) -> None:
    """Delete backups older than backup.retentionDays (never the newest backup.keepLast) and incomplete
    backups older than backup.incompleteGraceHours."""
    with reported():
        stack_target, targets = _targets(stack, outputs, region)
        cfg = stack_target.cfg
    policy = cfg.backup

    async def go() -> list[dict[str, Any]]:
        rows = []
        for target in targets:
            decision = await Backups(target).prune(
                retention_days=policy.retention_days,
                keep_last=policy.keep_last,
                incomplete_grace_hours=policy.incomplete_grace_hours,
                dry_run=dry_run,
            )
            rows.append({"region": target.region, "dry_run": dry_run, **decision.__dict__})
        return rows

    rows = _run(go())
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        verb = "would delete" if dry_run else "deleted"
        console.print(f"{row['region']}: {verb} {len(row['delete'])}, kept {len(row['keep'])}")
        for backup_id in row["delete"] + row["keep"]:
            console.print(f"  {backup_id}: {row['reasons'][backup_id]}")
