"""`streamgate backup …`: create, list, verify, restore and prune encrypted backups, per region.

Exit codes: 0 ok, 1 failed (or verify found a problem), 2 bad input or config, 3 declined.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from infra.automation.errors import InvalidInputError
from infra.clikit import (
    ActorOpt,
    DryRunOpt,
    JsonOpt,
    OutputsOpt,
    ReasonOpt,
    StackOpt,
    YesOpt,
    command_group,
    confirm_stack,
    console,
    emit_json,
    err_console,
    reported,
)

# The commands' work is imported when they run: completing `streamgate backup <TAB>` imports this module.
if TYPE_CHECKING:
    from infra.automation.adapters.backup_source import RegionBackup
    from infra.automation.backup.backups import Backups
    from infra.automation.targets import Target
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
    from infra.automation.targets import stack_target

    target = stack_target(stack, outputs)
    return target, backup_wiring.targets(target, regions, redis=redis)


@contextmanager
def _progress(quiet: bool) -> Iterator[Any]:
    """A rich progress bar on stderr (nothing with --json): one task per (region, phase)."""
    if quiet:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
    from infra.automation.backup.backups import Backups

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


@contextmanager
def _audited(target: Target, dry_run: bool, actor: str | None, reason: str | None) -> Iterator[Any]:
    """The audit entry of a command that changes something (none for a dry run)."""
    if dry_run:
        yield None
        return
    from infra.automation.audit.record import audited

    with reported(), audited(target.state_store(), target.cfg.stack, actor, reason) as entry:
        yield entry


@app.command()
def create(
    stack: StackOpt,
    region: RegionOpt = None,
    no_redis: Annotated[bool, typer.Option("--no-redis", help="Back up the content bucket only.")] = False,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
    actor: ActorOpt = None,
    reason: ReasonOpt = None,
) -> None:
    """Back up each region: its Redis snapshot (BGSAVE) and every object of its content bucket, encrypted,
    with a manifest; then push the backup's time to the Pushgateway (backup-age alert).

    Example: streamgate backup create --stack prod --region us-east-1"""
    from infra.automation.backup.backups import push_last_success

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

    with _progress(as_json) as bar, _audited(stack_target, dry_run, actor, reason) as entry:
        rows = _run(go(bar))
        if entry is not None:
            entry.extra["backups"] = [r.get("backup_id") for r in rows]
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
    """Every backup per region, newest first (incomplete ones included).

    Example: streamgate backup list --stack prod --json"""
    from rich.table import Table

    with reported():
        _, targets = _targets(stack, outputs, region)

    async def go() -> list[Any]:
        return [b for t in targets for b in await _backups(t, None).list()]

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
    Redis snapshot into a scratch redis-server. Exit 1 naming every corrupted, missing or extra object.

    Example: streamgate backup verify --stack prod 20261101T020000Z-3f9a1c --region us-east-1"""
    from infra.automation.backup.errors import BackupError

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
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
    actor: ActorOpt = None,
    reason: ReasonOpt = None,
) -> None:
    """Restore a backup: objects (checked against the manifest before writing) into a bucket, and with
    --redis-url the Redis snapshot into a Redis. Objects that fail their check are named, never written.
    The backup is found (its manifest read) before anything is asked: an unknown id exits 2.

    Example: streamgate backup restore --stack prod 20261101T020000Z-3f9a1c --region us-east-1 --yes"""
    from infra.automation.backup.model import id_time

    with reported():
        if id_time(backup_id) is None:
            raise InvalidInputError(
                f"{backup_id!r} is not a backup id (like 20261101T020000Z-3f9a1c; `streamgate backup list`)"
            )
        stack_target, [target] = _targets(stack, outputs, [region])
        to: ObjectStore | None = None
        if not no_content:
            to = stack_target.bucket(target_bucket, region) if target_bucket else target.content
        if to is None and redis_url is None:
            raise InvalidInputError("nothing to restore: drop --no-content or give --redis-url")
    _run(_backups(target, None).manifest(backup_id))  # BackupNotFoundError (exit 2) before any question
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

    with _progress(as_json) as bar, _audited(stack_target, dry_run, actor, reason):
        result = _run(_backups(target, bar).restore(backup_id, to=to, redis_url=redis_url, dry_run=dry_run))
        if not result.ok:
            raise typer.Exit(_report_restore(result, redis_url, dry_run, as_json) or 1)
    _report_restore(result, redis_url, dry_run, as_json)


def _report_restore(result: Any, redis_url: str | None, dry_run: bool, as_json: bool) -> int:
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
    return 0 if result.ok else 1


@app.command()
def prune(
    stack: StackOpt,
    region: RegionOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    outputs: OutputsOpt = None,
    actor: ActorOpt = None,
    reason: ReasonOpt = None,
) -> None:
    """Delete backups older than backup.retentionDays (never the newest backup.keepLast) and incomplete
    backups older than backup.incompleteGraceHours. Shows what it would delete, then asks for the stack's
    name to be typed (unless --yes or --dry-run).

    Example: streamgate backup prune --stack prod --dry-run"""
    with reported():
        stack_target, targets = _targets(stack, outputs, region)
        cfg = stack_target.cfg
    policy = cfg.backup

    async def go(preview: bool) -> list[dict[str, Any]]:
        rows = []
        for target in targets:
            decision = await _backups(target, None).prune(
                retention_days=policy.retention_days,
                keep_last=policy.keep_last,
                incomplete_grace_hours=policy.incomplete_grace_hours,
                dry_run=preview,
            )
            rows.append({"region": target.region, "dry_run": preview, **decision.__dict__})
        return rows

    rows = _run(go(True))
    doomed = [b for row in rows for b in row["delete"]]
    for row in rows:
        row["dry_run"] = dry_run or not doomed  # nothing to delete: what was found is the answer
    if not dry_run and doomed:
        if not as_json:
            _print_prune(rows)
        confirm_stack(stack, f"delete {len(doomed)} backup(s) of {stack}: {', '.join(doomed)}", yes)
        with _audited(stack_target, False, actor, reason) as entry:
            rows = _run(go(False))
            entry.extra["deleted"] = [b for row in rows for b in row["delete"]]
    if as_json:
        emit_json(rows)
        return
    _print_prune(rows)


def _print_prune(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        verb = "would delete" if row["dry_run"] else "deleted"
        console.print(f"{row['region']}: {verb} {len(row['delete'])}, kept {len(row['keep'])}")
        for backup_id in row["delete"] + row["keep"]:
            console.print(f"  {backup_id}: {row['reasons'][backup_id]}")
