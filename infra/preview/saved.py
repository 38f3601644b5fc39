"""Saved plans: `streamgate plan STACK --save FILE` writes one, `--diff FILE` compares with it, so what was
reviewed can be compared with what is about to be applied.

A saved plan is the stack's document (resources and policy verdicts) with where it came from: the format
and its version, the stack, the commit (and whether the tree had uncommitted changes), and the versions of
streamgate and the Pulumi packages that planned it.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

from infra.preview.errors import PreviewError, PreviewInputError
from infra.preview.gitbase import git

FORMAT = "streamgate-plan"
VERSION = 1
TOOLS = ("streamgate", "pulumi", "pulumi-aws", "pulumi-kubernetes", "pulumi-policy")


def provenance() -> dict[str, Any]:
    """The commit and tools a plan made now comes from (commit None outside a git checkout)."""
    try:
        commit: str | None = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except PreviewError:
        commit, dirty = None, False
    tools: dict[str, str | None] = {}
    for name in TOOLS:
        try:
            tools[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            tools[name] = None
    return {"commit": commit, "dirty": dirty, "tools": tools}


def saved_plan(document: dict[str, Any], origin: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, **origin, **document}


def write(path: Path, document: dict[str, Any], origin: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved_plan(document, origin), indent=1, sort_keys=True) + "\n")


def label(saved: dict[str, Any], path: Path) -> str:
    commit = saved.get("commit")
    at = f"{commit[:12]}{'+changes' if saved.get('dirty') else ''}" if commit else "no commit"
    return f"{path.name} ({at})"


def read(path: Path, stack: str) -> dict[str, Any]:
    """The saved plan at `path`, checked to be of `stack` and of the format version this tool reads."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PreviewInputError(f"{path}: cannot read a saved plan: {exc}") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise PreviewInputError(
            f"{path}: not a streamgate saved plan (write one with `streamgate plan {stack} --save FILE`)"
        )
    version = saved.get("version")
    if version != VERSION:
        age = "an older" if isinstance(version, int) and version < VERSION else "an unknown"
        raise PreviewInputError(
            f"{path}: {age} saved-plan format (version {version!r}; this streamgate reads version "
            f"{VERSION}): save it again with `streamgate plan {stack} --save FILE`"
        )
    if saved.get("stack") != stack:
        raise PreviewInputError(
            f"{path}: a saved plan of stack {saved.get('stack')!r}, not {stack!r}: "
            f"give the plan saved for {stack}"
        )
    if not isinstance(saved.get("resources"), list) or not isinstance(saved.get("policy"), dict):
        raise PreviewInputError(f"{path}: saved plan without its resources and policy verdicts")
    return saved
