"""Both sides of a preview: the head planned here (the working tree's code and stack files), the base from a
git ref (planned at the same time in a second process), a saved plan or a `pulumi stack export`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.preview import export, gitbase, saved, snapshot
from infra.preview.diff import StackDiff, diff_documents
from infra.preview.errors import PreviewError, PreviewInputError

EMPTY: dict[str, Any] = {"resources": [], "policy": {"passed": True, "violations": []}}


def head_label(origin: dict[str, Any]) -> str:
    commit = origin.get("commit")
    if not commit:
        return "working tree"
    return f"working tree ({commit[:12]}{'+changes' if origin.get('dirty') else ''})"


def plan_heads(stacks: list[str]) -> dict[str, dict[str, Any]]:
    return {name: snapshot.plan_document(name) for name in stacks}


def against_ref(
    ref: str, stacks: list[str], every_cloud_stack: bool, origin: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], list[StackDiff]]:
    """Head documents and the diffs from `ref`. With `every_cloud_stack`, the stacks Pulumi deploys on
    either side (a stack added or removed shows whole)."""
    with gitbase.planning(ref, stacks, cloud=every_cloud_stack) as base:
        heads = plan_heads(stacks)
        bases = base.result()
    names = list(dict.fromkeys([*heads, *(n for n, d in bases.items() if "missing" not in d)]))
    diffs = []
    for name in names:
        old = bases.get(name, {"missing": True})
        if "error" in old:
            raise PreviewError(f"cannot plan {name} as of {base.label}: {old['error']}")
        diffs.append(
            diff_documents(
                name,
                EMPTY if "missing" in old else old,
                heads.get(name, EMPTY),
                base.label + (" (no such stack)" if "missing" in old else ""),
                head_label(origin) + ("" if name in heads else " (no such stack)"),
            )
        )
    return heads, diffs


def against_saved(
    path: Path, stacks: list[str], origin: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], list[StackDiff]]:
    """A saved plan file for one stack; a directory of `<stack>.plan.json` files for several."""
    files = {}
    for name in stacks:
        file = path / saved_name(name) if path.is_dir() else path
        if not file.is_file():
            raise PreviewInputError(f"{path}: no saved plan {saved_name(name)} for stack {name}")
        files[name] = file
    if not path.is_dir() and len(stacks) > 1:
        raise PreviewInputError(f"{path}: one saved plan for {len(stacks)} stacks: give a directory")
    bases = {name: saved.read(file, name) for name, file in files.items()}  # bad input before planning
    heads = plan_heads(stacks)
    diffs = [
        diff_documents(
            name, bases[name], heads[name], saved.label(bases[name], files[name]), head_label(origin)
        )
        for name in stacks
    ]
    return heads, diffs


def against_export(
    path: Path, stack: str, origin: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], list[StackDiff]]:
    from policies.offline import run_policies

    deployed = export.read_export(path, stack)
    old = snapshot.document(deployed.plan, run_policies(deployed.plan))
    head = snapshot.plan_document(stack)
    aligned, unknown = export.align(head, old)
    diff = diff_documents(stack, old, aligned, f"deployed ({path.name})", head_label(origin))
    diff.notes.extend(deployed.notes)
    if unknown:
        diff.notes.append(
            f"{unknown} value(s) computed by the cloud are unknown offline and were not compared"
        )
    return {stack: head}, [diff]


def saved_name(stack: str) -> str:
    return f"{stack}.plan.json"


def is_saved(base: str) -> bool:
    """--diff BASE names a saved plan (or a directory of them) when such a path exists, a git ref otherwise."""
    return Path(base).exists()
